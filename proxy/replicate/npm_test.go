package replicate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/replicate"
)

// npmRun runs the npm CLI in dir against nora n with token.
func npmRun(t *testing.T, n *proxytest.Nora, token, dir string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	conf := "registry=" + n.URL + "/npm/\nfetch-retries=0\nupdate-notifier=false\nfund=false\naudit=false\n"
	if token != "" {
		conf += strings.TrimPrefix(n.URL, "http:") + "/npm/:_authToken=" + token + "\n"
	}
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--userconfig", rc, "--cache", filepath.Join(home, "cache"))
	out, err := npmtest.NPM(t, dir, home, args...)
	if err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestNPMCopy: versions npm published on the source are published on the
// target with the same tarball, npm installs them from there; a second
// copy sends nothing; a target refusing the push fails naming the item.
func TestNPMCopy(t *testing.T) {
	cfg := npm.DefaultConfig()
	cfg.HostedNames = []string{"@acme/*"}
	p := startPkgPair(t, proxy.AppConfig{Npm: cfg})
	for _, v := range []string{"1.0.0", "1.1.0"} {
		npmRun(t, p.srcN, p.srcToken, npmtest.WritePackage(t, "@acme/lib", v, nil, "module.exports = '"+v+"';\n"), "publish")
	}
	npmRun(t, p.srcN, p.srcToken, npmtest.WritePackage(t, "@acme/other", "2.0.0", nil, "module.exports = 2;\n"), "publish")

	m := replicate.NPM()
	items := p.list(t, m, func(name, _ string) bool { return name == "@acme/lib" })
	if len(items) != 2 {
		t.Fatalf("listed %v, want the two versions of @acme/lib", items)
	}
	p.refused(t, m, items[0])
	p.copyAll(t, m, items)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		p.sameBytes(t, "/npm/@acme/lib/-/lib-"+v+".tgz")
	}
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"app","version":"1.0.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	npmRun(t, p.dstN, "", proj, "install", "@acme/lib", "--no-audit", "--no-fund")
	b, err := os.ReadFile(filepath.Join(proj, "node_modules/@acme/lib/index.js"))
	if err != nil || string(b) != "module.exports = '1.1.0';\n" {
		t.Fatalf("installed index.js: %q %v, want the latest version's", b, err)
	}
}
