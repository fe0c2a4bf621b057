package npm_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// The end-to-end test runs verdaccio (a real npm registry) with fixtures
// published by the real npm CLI, a Front that can corrupt or drop its
// answers, an in-process nora in front of that, and the real npm CLI
// installing through nora.

// install runs `npm install pkg` in a new project with a new npm cache and
// a userconfig of its own that points at nora.
func install(t *testing.T, n *proxytest.Nora, pkg string) (string, string, error) {
	t.Helper()
	home, proj := t.TempDir(), t.TempDir()
	rc := filepath.Join(home, "npmrc")
	conf := strings.Join([]string{
		"registry=" + n.URL + "/npm/",
		"fetch-retries=1", "fetch-retry-mintimeout=100", "fetch-retry-maxtimeout=500",
		"update-notifier=false", "fund=false", "audit=false", "",
	}, "\n")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"proj","version":"1.0.0","private":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := npmtest.NPM(t, proj, home, "install", pkg, "--userconfig", rc, "--cache", filepath.Join(home, "cache"),
		"--no-audit", "--no-fund", "--prefer-online")
	return proj, out, err
}

func mustInstall(t *testing.T, n *proxytest.Nora, pkg string) {
	t.Helper()
	proj, out, err := install(t, n, pkg)
	if err != nil {
		t.Fatalf("npm install %s through nora: %v\n%s", pkg, err, out)
	}
	for file, want := range map[string]string{
		"node_modules/@acme/dep/index.js":     depIndex,
		"node_modules/@acme/app-lib/index.js": appIndex,
	} {
		b, err := os.ReadFile(filepath.Join(proj, file))
		if err != nil || string(b) != want {
			t.Fatalf("%s after install: %q, %v; want %q", file, b, err, want)
		}
	}
	cmd := exec.Command("node", "-e", "process.stdout.write(require('@acme/app-lib'))")
	cmd.Dir = proj
	got, err := cmd.Output()
	if err != nil || string(got) != "app-lib uses dep-1" {
		t.Fatalf("require('@acme/app-lib') = %q, %v", got, err)
	}
}

const (
	depIndex = "module.exports = 'dep-1';\n"
	appIndex = "module.exports = 'app-lib uses ' + require('@acme/dep');\n"
)

func TestInstallThroughNora(t *testing.T) {
	v := npmtest.StartVerdaccio(t)
	v.Publish(t, npmtest.WritePackage(t, "@acme/dep", "1.0.0", nil, depIndex))
	v.Publish(t, npmtest.WritePackage(t, "@acme/app-lib", "1.0.0", map[string]string{"@acme/dep": "^1.0.0"}, appIndex))
	front := npmtest.NewFront(t, v.URL)
	// ttl 0: every packument request revalidates upstream.
	n := startNora(t, npm.Config{Upstream: front.URL, NegativeTTL: units.Duration(time.Minute)})
	depKey := "refs/npm/@acme/dep/-/dep-1.0.0.tgz"

	// A tampered tarball fails the install and is not cached.
	if n.Stored(depKey) {
		t.Fatal("tarball cached before any install")
	}
	front.Corrupt("/dep-1.0.0.tgz")
	if _, out, err := install(t, n, "@acme/app-lib"); err == nil {
		t.Fatalf("install with a tampered tarball succeeded:\n%s", out)
	} else if !strings.Contains(out, "dep-1.0.0.tgz") && !strings.Contains(out, "EINTEGRITY") {
		t.Fatalf("install with a tampered tarball failed, but not on that tarball:\n%s", out)
	}
	n.WaitNoTempFiles(t, 20*time.Second)
	if n.Stored(depKey) {
		t.Fatal("tampered tarball was cached")
	}
	front.ClearFaults()

	mustInstall(t, n, "@acme/app-lib")
	if !n.Stored(depKey) {
		t.Fatal("good tarball not cached after the upstream was fixed")
	}
	tarballGets := front.Hits("/@acme/app-lib/-/app-lib-1.0.0.tgz")
	mustInstall(t, n, "@acme/app-lib")
	if got := front.Hits("/@acme/app-lib/-/app-lib-1.0.0.tgz"); got != tarballGets {
		t.Fatalf("a cached tarball was fetched upstream again (%d -> %d)", tarballGets, got)
	}

	// Both spellings of a scoped name, tarball URLs pointing at nora.
	_, enc := get(t, n.URL+"/npm/@acme%2fdep")
	resp, plain := get(t, n.URL+"/npm/@acme/dep")
	if resp.StatusCode != 200 || string(enc) != string(plain) {
		t.Fatalf("@acme%%2fdep and @acme/dep differ: %d\n%s\n%s", resp.StatusCode, enc, plain)
	}
	var doc struct {
		Versions map[string]struct {
			Dist struct{ Tarball, Integrity string }
		}
		Readme string
	}
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Versions["1.0.0"].Dist.Tarball; got != n.URL+"/npm/@acme/dep/-/dep-1.0.0.tgz" || doc.Versions["1.0.0"].Dist.Integrity == "" {
		t.Fatalf("full packument dist: %+v", doc.Versions["1.0.0"].Dist)
	}
	resp, abbr := get(t, n.URL+"/npm/@acme%2fdep", "Accept", abbreviated)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.npm.install-v1+json") ||
		string(abbr) == string(plain) || !strings.Contains(string(abbr), n.URL+"/npm/@acme/dep/-/dep-1.0.0.tgz") {
		t.Fatalf("abbreviated packument: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), abbr)
	}
	resp, _ = get(t, n.URL+"/npm/@acme/dep", "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 200 {
		t.Fatalf("If-None-Match of the abbreviated ETag on the full packument: %d, want 200", resp.StatusCode)
	}

	// The upstream stops: a fresh client in a fresh project still installs.
	front.Stop()
	mustInstall(t, n, "@acme/app-lib")
	resp, _ = get(t, n.URL+"/npm/@acme/dep")
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatalf("packument with upstream down: %d, X-Nora-Stale %q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, body := get(t, n.URL+"/npm/@acme/never-cached")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("never-cached packument with upstream down: %d %s, want 503", resp.StatusCode, body)
	}
	resp, _ = get(t, n.URL+"/npm/@acme/dep/-/dep-9.9.9.tgz")
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tarball with upstream down: %d", resp.StatusCode)
	}

	// Back up: a real 404 is a 404 (after the breaker's cooldown).
	front.Start(t)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, body = get(t, n.URL+"/npm/@acme/missing"); resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
	}
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("missing package: %d %s, want 404", resp.StatusCode, body)
	}
	resp, _ = get(t, n.URL+"/npm/@acme/dep")
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "" {
		t.Fatalf("packument after the upstream came back: %d stale=%q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, body = get(t, n.URL+"/npm/@acme/dep/-/dep-9.9.9.tgz")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tarball of no version: %d %s, want 404", resp.StatusCode, body)
	}
}
