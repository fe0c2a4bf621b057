package pypi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"nora/proxy/proxytest"
	"nora/proxy/pypi/pypitest"
)

// poetry and uv with the configuration README.md gives them, verbatim but
// for the box's address.

const docIndex = "http://" + proxytest.DocAddr + "/simple/"

// TestPoetryThroughNora runs Debian's poetry: the README's `poetry source
// add`, then lock and install of acme-app (which pulls Acme_Dep) from nora
// alone.
func TestPoetryThroughNora(t *testing.T) {
	poetry, err := exec.LookPath("poetry")
	if err != nil {
		t.Fatalf("poetry is not installed (.ci/setup-clients.sh installs it): %v", err)
	}
	up := newUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	home, proj := t.TempDir(), t.TempDir()
	pyproject := `[tool.poetry]
name = "proj"
version = "0.1.0"
description = ""
authors = ["nora tests <tests@nora.invalid>"]

[tool.poetry.dependencies]
python = "^3.7"
acme-app = "1.0.0"
`
	if err := os.WriteFile(filepath.Join(proj, "pyproject.toml"), []byte(pyproject), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(poetry, args...)
		cmd.Dir = proj
		cmd.Env = proxytest.Env(home, "LANG=C.UTF-8", "POETRY_NO_INTERACTION=1", "POETRY_VIRTUALENVS_IN_PROJECT=true",
			"POETRY_CACHE_DIR="+filepath.Join(home, "cache"), "POETRY_CONFIG_DIR="+filepath.Join(home, "config"),
			"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("poetry %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	add := strings.Fields(n.Local(proxytest.Snippet(t, "poetry source add")))
	if len(add) < 4 || add[0] != "poetry" {
		t.Fatalf("README's poetry command: %q", add)
	}
	// Poetry before 1.5 (Debian 12 ships 1.3) spells --priority=primary as
	// --default, as the README says.
	if v := run("--version"); poetryBefore15(t, v) {
		for i, a := range add {
			if a == "--priority=primary" {
				add[i] = "--default"
			}
		}
	}
	run(add[1:]...)
	run("lock")
	run("install", "--no-root")

	lock, err := os.ReadFile(filepath.Join(proj, "poetry.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name = "acme-app"`, `name = "acme-dep"`, `url = "` + n.URL + `/simple"`} {
		if !strings.Contains(string(lock), want) {
			t.Fatalf("poetry.lock lacks %s:\n%s", want, lock)
		}
	}
	py := exec.Command(filepath.Join(proj, ".venv", "bin", "python"), "-c", "import acme_app, acme_dep; print(acme_app.VERSION, acme_dep.VERSION)")
	if out, err := py.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1.0.0 1.0.0" {
		t.Fatalf("installed modules: %q, %v", out, err)
	}
	if up.Gets(filepath.Base(distOf(t, "acme-app").wheel)) == 0 {
		t.Fatal("acme-app's wheel was never fetched from the upstream")
	}
}

func poetryBefore15(t *testing.T, version string) bool {
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("poetry --version: %q", version)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major < 1 || major == 1 && minor < 5
}

// TestUVIndexShape: uv is not installable here (not in Debian 12, not on
// npm), so its README settings are checked for shape, then nora is asked
// what uv asks of its index: the JSON project page, then a file it links.
func TestUVIndexShape(t *testing.T) {
	env := proxytest.Inline(t, "UV_DEFAULT_INDEX=")
	if got := strings.TrimPrefix(env, "UV_DEFAULT_INDEX="); got != docIndex {
		t.Fatalf("UV_DEFAULT_INDEX = %q, want %q", got, docIndex)
	}
	var doc struct {
		Tool struct {
			UV struct {
				Index []struct {
					Name, URL string
					Default   bool
				}
			}
		}
	}
	if err := toml.Unmarshal([]byte(proxytest.Snippet(t, "[[tool.uv.index]]")), &doc); err != nil {
		t.Fatalf("README's [[tool.uv.index]]: %v", err)
	}
	idx := doc.Tool.UV.Index
	if len(idx) != 1 || idx[0].URL != docIndex || !idx[0].Default || idx[0].Name == "" {
		t.Fatalf("README's [[tool.uv.index]] = %+v, want one default index at %s", idx, docIndex)
	}
	if got := proxytest.Inline(t, "--allow-insecure-host "); got != "--allow-insecure-host "+proxytest.DocAddr {
		t.Fatalf("README's uv insecure host: %q", got)
	}

	up := newUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	req, _ := http.NewRequest("GET", n.Local(idx[0].URL)+"acme-app/", nil)
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Files []struct{ Filename, URL string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 || len(page.Files) == 0 {
		t.Fatalf("uv's project page request: %d %s, %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	f := page.Files[0]
	ref, err := url.Parse(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	fileURL := req.URL.ResolveReference(ref).String()
	fresp, err := http.Get(fileURL)
	if err != nil {
		t.Fatal(err)
	}
	fresp.Body.Close()
	if fresp.StatusCode != 200 || !strings.HasPrefix(fileURL, n.URL) {
		t.Fatalf("file %s at %s: %d", f.Filename, fileURL, fresp.StatusCode)
	}
}
