package pypi_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// The end-to-end tests build tiny projects with setuptools, publish them on
// a pypitest upstream (index and files host on separate listeners), run an
// in-process nora in front of it and drive the real pip.

type dist struct {
	project, wheel, sdist, requiresPython string
}

var (
	distsOnce sync.Once
	distsDir  string
	dists     []dist
)

func TestMain(m *testing.M) {
	code := m.Run()
	if distsDir != "" {
		os.RemoveAll(distsDir)
	}
	os.Exit(code)
}

// fixtures builds the projects once per test binary: acme-app depends on
// Acme_Dep (published under that non-normalized name), acme.plus has a
// local version ("+" in its file names).
func fixtures(t testing.TB) []dist {
	t.Helper()
	distsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nora-pypi-fixtures-")
		if err != nil {
			t.Fatal(err)
		}
		distsDir = dir
		for _, p := range []pypitest.Project{
			{Name: "Acme_Dep", Version: "1.0.0", RequiresPython: ">=3.7,<4"},
			{Name: "acme-app", Version: "1.0.0", Requires: []string{"Acme_Dep>=1.0"}, RequiresPython: ">=3.7"},
			{Name: "acme.plus", Version: "1.0+local", RequiresPython: ">=3"},
		} {
			whl, sdist := pypitest.Build(t, dir, p)
			dists = append(dists, dist{project: p.Name, wheel: whl, sdist: sdist, requiresPython: p.RequiresPython})
		}
	})
	if len(dists) != 3 {
		t.Fatal("fixtures were not built")
	}
	return dists
}

// newUpstream publishes the fixtures on a new pypitest upstream.
func newUpstream(t testing.TB, o pypitest.Options) *pypitest.Server {
	t.Helper()
	up := pypitest.New(t, o)
	for _, d := range fixtures(t) {
		up.AddDist(d.project, d.wheel, d.requiresPython)
		up.AddDist(d.project, d.sdist, d.requiresPython)
	}
	return up
}

func distOf(t testing.TB, project string) dist {
	for _, d := range fixtures(t) {
		if pypitest.Normalize(d.project) == pypitest.Normalize(project) {
			return d
		}
	}
	t.Fatalf("no fixture %s", project)
	return dist{}
}

// noraUnderTest is a test nora with the helpers the pypi tests add.
type noraUnderTest struct{ *proxytest.Nora }

func startNora(t testing.TB, cfg pypi.Config) *noraUnderTest {
	t.Helper()
	return startNoraAuth(t, cfg, nil)
}

// startNoraAuth is startNora with an [auth] section (nil: the default,
// anonymous reads and no writes).
func startNoraAuth(t testing.TB, cfg pypi.Config, authCfg *auth.Config) *noraUnderTest {
	t.Helper()
	return &noraUnderTest{proxytest.Start(t, proxy.AppConfig{PyPI: cfg, Auth: authCfg})}
}

func pypiConfig(up *pypitest.Server) pypi.Config {
	cfg := pypi.DefaultConfig()
	cfg.Upstream = up.IndexURL
	return cfg
}

// pip runs Debian's pip with an environment of its own: no config file,
// no cache, no index but nora's.
func pip(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(pypitest.Python, append([]string{"-m", "pip"}, args...)...)
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1", "PYTHONDONTWRITEBYTECODE=1",
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func pipInstall(t *testing.T, n *noraUnderTest, target string, reqs ...string) (string, error) {
	t.Helper()
	return pip(t, append([]string{"install", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
		"--index-url", n.URL + "/simple/", "--target", target}, reqs...)...)
}

func pipDownloadSdist(t *testing.T, n *noraUnderTest, dest, req string) (string, error) {
	t.Helper()
	return pip(t, "download", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
		"--no-build-isolation", "--no-binary", ":all:", "--no-deps", "--index-url", n.URL+"/simple/", "-d", dest, req)
}

func mustInstall(t *testing.T, n *noraUnderTest, reqs ...string) string {
	t.Helper()
	target := t.TempDir()
	if out, err := pipInstall(t, n, target, reqs...); err != nil {
		t.Fatalf("pip install %v: %v\n%s", reqs, err, out)
	}
	for _, m := range []string{"acme_app.py", "acme_dep.py", "acme_plus.py"} {
		if _, err := os.Stat(filepath.Join(target, m)); err != nil {
			t.Fatalf("pip install %v did not install %s", reqs, m)
		}
	}
	return target
}

func mustDownloadSdist(t *testing.T, n *noraUnderTest) {
	t.Helper()
	dest := t.TempDir()
	if out, err := pipDownloadSdist(t, n, dest, "acme-dep"); err != nil {
		t.Fatalf("pip download sdist: %v\n%s", err, out)
	}
	d := distOf(t, "acme-dep")
	got, err := os.ReadFile(filepath.Join(dest, filepath.Base(d.sdist)))
	if err != nil {
		t.Fatalf("pip download did not save the sdist: %v", err)
	}
	want, _ := os.ReadFile(d.sdist)
	if !bytes.Equal(got, want) {
		t.Fatal("the sdist pip downloaded differs from the published one")
	}
}

func httpGet(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, b
}

func TestPipThroughNora(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts pypitest.Options
	}{
		{"json-upstream", pypitest.Options{}},
		{"html-upstream-relative-links", pypitest.Options{HTMLOnly: true, RelativeLinks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, tc.opts)
			cfg := pypiConfig(up)
			cfg.TTL = 0 // revalidate on every page request
			n := startNora(t, cfg)

			mustInstall(t, n, "acme-app", "acme.plus==1.0+local")
			mustDownloadSdist(t, n)
			app, plus := distOf(t, "acme-app"), distOf(t, "acme-plus")
			for _, f := range []string{app.wheel, plus.wheel, distOf(t, "acme-dep").wheel} {
				name := filepath.Base(f)
				if got := up.Gets(name); got != 1 {
					t.Errorf("%s fetched %d times upstream, want 1", name, got)
				}
				// Debian's pip 23.0 reads PEP 658 metadata only from HTML
				// pages, and asks for JSON: it may or may not use it.
				if got := up.MetadataGets(name); got > 1 {
					t.Errorf("%s.metadata fetched %d times upstream, want at most 1", name, got)
				}
			}
			if !n.Stored("refs/pypi/acme-plus/_files/" + filepath.Base(plus.wheel)) {
				t.Error("the wheel with a local version is not cached under its decoded name")
			}

			// Warm again: pages revalidate (TTL 0) with 304s, files are hits.
			before := up.NotModified()
			mustInstall(t, n, "acme-app", "acme.plus==1.0+local")
			if up.NotModified() == before {
				t.Error("no conditional revalidation reached the upstream")
			}
			if got := up.Gets(filepath.Base(app.wheel)); got != 1 {
				t.Errorf("warm install fetched the wheel again (%d)", got)
			}

			// Upstream down: everything comes from the cache, pages stale.
			up.Stop()
			mustInstall(t, n, "acme-app", "acme.plus==1.0+local")
			mustDownloadSdist(t, n)
			resp, _ := httpGet(t, n.URL+"/simple/acme-app/")
			if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
				t.Fatalf("stale page: %d, X-Nora-Stale %q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
			}
			resp, body := httpGet(t, n.URL+"/simple/never-cached/")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("never-cached page with upstream down: %d %s, want 503 text", resp.StatusCode, body)
			}
			out, err := pipInstall(t, n, t.TempDir(), "-vv", "never-cached")
			if err == nil || !strings.Contains(out, "503") {
				t.Fatalf("pip install of a never-cached project with upstream down: %v\n%s", err, out)
			}

			up.Start()
			waitStatus(t, n.URL+"/simple/no-such-project/", http.StatusNotFound)
		})
	}
}

// waitStatus polls until url answers status (the breaker lets a trial
// through after its cooldown).
func waitStatus(t testing.TB, url string, status int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, _ := httpGet(t, url)
		if got = resp.StatusCode; got == status {
			return
		}
	}
	t.Fatalf("GET %s: %d, want %d", url, got, status)
}

func TestPipRefusesTamperedWheel(t *testing.T) {
	up := newUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	whl := filepath.Base(distOf(t, "acme-app").wheel)
	key := "refs/pypi/acme-app/_files/" + whl

	up.Tamper(whl, true)
	out, err := pipInstall(t, n, t.TempDir(), "acme-app", "acme.plus==1.0+local")
	if err == nil {
		t.Fatalf("pip installed a tampered wheel:\n%s", out)
	}
	// Refused by nora before the headers (502), or cut mid-body or before
	// the first byte, depending on how far the fill got.
	refused := false
	for _, s := range []string{"502", "hash", "Connection broken", "Connection aborted", "IncompleteRead"} {
		refused = refused || strings.Contains(out, s)
	}
	if !refused {
		t.Fatalf("pip failed, but not on the tampered wheel:\n%s", out)
	}
	t.Logf("pip refused the tampered wheel:\n%s", out)
	if n.Stored(key) {
		t.Fatal("the tampered wheel was cached")
	}
	if resp, err := http.Get(n.URL + "/simple/acme-app/" + whl); err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Fatal("tampered wheel served cleanly")
		}
	}
	if n.Stored(key) {
		t.Fatal("the tampered wheel was cached")
	}

	up.Tamper(whl, false)
	mustInstall(t, n, "acme-app", "acme.plus==1.0+local")
	if !n.Stored(key) {
		t.Fatal("the good wheel was not cached")
	}
}
