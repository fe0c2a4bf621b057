package replicate_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
	"nora/proxy/replicate"
)

// python runs Debian's python3 with args in an environment of its own.
func python(t *testing.T, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(pypitest.Python, args...)
	cmd.Dir = home
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
		"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring", "NO_COLOR=1", "TWINE_USERNAME=ci", "TWINE_PASSWORD=secret"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// yanked is the yank state of each file of project on n, as PEP 691 says it.
func yanked(t *testing.T, n *proxytest.Nora, project string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/simple/"+project+"/", nil)
	req.Header.Set("Accept", "application/vnd.pypi.simple.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Files []struct {
			Filename string `json:"filename"`
			Yanked   any    `json:"yanked"`
		} `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, f := range page.Files {
		out[f.Filename] = f.Yanked
	}
	return out
}

// roundTrip is a func as an http.RoundTripper.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestPyPICopy: the wheel and sdist twine uploaded to the source are
// uploaded to the target (what a cut-off run left out only), pip installs
// from there, a yank follows; a second copy sends
// nothing; a target refusing the upload fails naming the item.
func TestPyPICopy(t *testing.T) {
	p := startPkgPair(t, proxy.AppConfig{PyPI: pypi.DefaultConfig()})
	dir := t.TempDir()
	whl, sdist := pypitest.Build(t, dir, pypitest.Project{Name: "acme-lib", Version: "1.2.0", RequiresPython: ">=3.7"})
	other, _ := pypitest.Build(t, dir, pypitest.Project{Name: "acme-other", Version: "0.1.0"})
	python(t, "-m", "twine", "upload", "--repository-url", p.srcN.URL+"/simple/", "--non-interactive",
		"--disable-progress-bar", whl, sdist, other)

	m := replicate.PyPI()
	items := p.list(t, m, func(name, _ string) bool { return name == "acme-lib" })
	if len(items) != 1 || items[0].Version != "1.2.0" {
		t.Fatalf("listed %v, want acme-lib 1.2.0", items)
	}
	p.refused(t, m, items[0])
	// A run cut off after the wheel: the next sends the sdist only.
	python(t, "-m", "twine", "upload", "--repository-url", p.dstN.URL+"/simple/", "--non-interactive",
		"--disable-progress-bar", whl)
	posts := 0
	p.dst.Client = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost {
			posts++
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	p.copyAll(t, m, items)
	if posts != 1 {
		t.Fatalf("%d uploads, want the sdist's only", posts)
	}
	for _, f := range []string{whl, sdist} {
		p.sameBytes(t, "/simple/acme-lib/"+filepath.Base(f))
	}
	target := t.TempDir()
	python(t, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0",
		"--index-url", p.dstN.URL+"/simple/", "--target", target, "acme-lib==1.2.0")
	if _, err := os.Stat(filepath.Join(target, "acme_lib.py")); err != nil {
		t.Fatalf("pip install from the target: %v", err)
	}

	// A yank of the wheel on the source is one on the target, then nothing.
	req, _ := http.NewRequest(http.MethodPost, p.srcN.URL+"/api/pypi/acme-lib/1.2.0/yank",
		strings.NewReader(`{"reason":"broken","filename":"`+filepath.Base(whl)+`"}`))
	req.SetBasicAuth("ci", "secret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("yank on the source: %v %v", resp, err)
	}
	for i, skipped := range []bool{false, true} {
		c, err := m.Copy(t.Context(), p.src, p.dst, items[0], false, nil)
		if err != nil || c.Skipped != skipped {
			t.Fatalf("copy %d after the yank: %+v %v", i, c, err)
		}
	}
	if a, b := yanked(t, p.srcN, "acme-lib"), yanked(t, p.dstN, "acme-lib"); !reflect.DeepEqual(a, b) || a[filepath.Base(whl)] != "broken" {
		t.Fatalf("yanks: source %v, target %v", a, b)
	}
}

// TestPyPIVersionOfFile: a file belongs to the release whatever the
// release's spelling.
func TestPyPIVersionOfFile(t *testing.T) {
	f := func(file, version string, want bool) {
		t.Helper()
		if got := replicate.PyPIFileOf(file, version); got != want {
			t.Fatalf("%s of %s: %v, want %v", file, version, got, want)
		}
	}
	f("acme_lib-1.2.0-py3-none-any.whl", "1.2.0", true)
	f("acme_lib-1.2.0-1-py3-none-any.whl", "1.2.0", true)
	f("acme-lib-1.2.0.tar.gz", "1.2.0", true)
	f("acme_lib-1.2.0rc1.zip", "1.2.0-RC1", true)
	f("acme_lib-1.2.0b0-py3-none-any.whl", "1.2.0-beta", true)
	f("acme_lib-1.2.0-py3-none-any.whl", "1.2", false)
	f("acme_lib-1.2.0-py3-none-any.whl", "1.2.1", false)
	f("acme-lib-1.2.0.tar.gz", "2.0", false)
}
