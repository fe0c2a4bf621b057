package proxy

import (
	"html"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"nora/proxy/npm/npmtest"
	"nora/proxy/pypi/pypitest"
	"nora/proxy/sitetls"
)

var preBlock = regexp.MustCompile(`(?s)<pre>(.*?)</pre>`)

// pageBlock is the one <pre> block of the start page containing marker,
// unescaped: what a user copies.
func pageBlock(t *testing.T, page, marker string) string {
	t.Helper()
	var found []string
	for _, m := range preBlock.FindAllStringSubmatch(page, -1) {
		if b := html.UnescapeString(m[1]); strings.Contains(b, marker) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("start page has %d blocks with %q, want 1", len(found), marker)
	}
	return found[0]
}

// The start page's own lines, run as written: fetch the CA into ~, then
// npm (registry and cafile) and pip (index-url and cert) reach the TLS
// listener with verified TLS.
func TestStartPageClientsOverTLS(t *testing.T) {
	app := linkedApp(t, sitetls.ModeAuto)
	_, page := getURL(t, http.DefaultClient, "GET", "http://"+app.PlainAddr().String()+"/")
	home := t.TempDir()
	shell := func(line string, env ...string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = home
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	shell(pageBlock(t, page, "-o ~/nora-ca.crt"))
	tlsBase := "https://127.0.0.1:" + port(app.Addr())
	if !strings.Contains(page, "npm config set registry "+tlsBase+"/npm/") || !strings.Contains(page, "index-url = "+tlsBase+"/simple/") {
		t.Fatalf("the page does not point at %s", tlsBase)
	}

	for _, line := range strings.Split(pageBlock(t, page, "npm config set registry"), "\n") {
		args := strings.Fields(strings.ReplaceAll(line, "~/", home+"/"))
		if out, err := npmtest.NPM(t, home, home, args[1:]...); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	if out, err := npmtest.NPM(t, home, home, "view", "left-pad", "version"); err != nil || strings.TrimSpace(out) != "1.0.0" {
		t.Fatalf("npm view: %v\n%s", err, out)
	}

	// The page names the Debian trust store's copy; this test keeps out
	// of the machine's store and points cert at the fetched file.
	conf := strings.ReplaceAll(pageBlock(t, page, "index-url = https://"),
		"/usr/local/share/ca-certificates/nora-ca.crt", filepath.Join(home, "nora-ca.crt"))
	if err := os.WriteFile(filepath.Join(home, "pip.conf"), []byte(conf+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := shell(pypitest.Python+" -m pip index versions demo", "PIP_CONFIG_FILE="+filepath.Join(home, "pip.conf"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1")
	if !strings.Contains(out, "demo (1.0)") {
		t.Fatalf("pip index versions:\n%s", out)
	}
}
