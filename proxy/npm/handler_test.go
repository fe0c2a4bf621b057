package npm_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
)

// These tests use npmtest.Registry, a Go registry, where the exact upstream
// traffic matters; TestInstallThroughNora covers the real registry and
// client.

func TestRequestsAndErrors(t *testing.T) {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "left-pad", "1.0.0", 100)
	n := startNora(t, npm.Config{Upstream: up.URL, TTL: units.Duration(time.Minute), NegativeTTL: units.Duration(time.Minute)})
	f := func(method, path string, body string, wantStatus int, wantBody string, hdr ...string) *http.Response {
		t.Helper()
		resp, b := do(t, method, n.URL+path, strings.NewReader(body), hdr...)
		if resp.StatusCode != wantStatus || !strings.Contains(string(b), wantBody) {
			t.Fatalf("%s %s: %d %s, want %d %q", method, path, resp.StatusCode, b, wantStatus, wantBody)
		}
		return resp
	}
	f("GET", "/npm/-/ping", "", 200, "{}")
	f("GET", "/npm/left-pad", "", 200, `"tarball":"`+n.URL+`/npm/left-pad/-/left-pad-1.0.0.tgz"`)
	f("GET", "/npm/left-pad/-/left-pad-1.0.0.tgz", "", 200, "")
	f("HEAD", "/npm/left-pad", "", 200, "")
	f("GET", "/npm/Bad%20Name", "", 400, `{"error":"invalid package name"}`)
	f("GET", "/npm/left-pad/-/left-pad.zip", "", 400, `"error"`)
	f("GET", "/npm/-/whoami", "", 401, `"error"`)
	f("GET", "/npm/left-pad/-/left-pad-9.tgz", "", 404, `"error"`)
	f("GET", "/npm/no-such-package", "", 404, `"error"`)
	f("GET", "/npm/no-such-package", "", 404, `"error"`)
	if got := up.Hits("/no-such-package"); got != 1 {
		t.Fatalf("a 404 was asked upstream %d times within negative_ttl, want 1", got)
	}
	resp := f("DELETE", "/npm/left-pad", "", 405, `"error"`)
	if resp.Header.Get("Allow") != "GET, HEAD, PUT" {
		t.Fatalf("Allow: %q", resp.Header.Get("Allow"))
	}
	// No htpasswd: nobody publishes.
	f("PUT", "/npm/left-pad", "{}", 403, `[auth] htpasswd`)
	f("GET", "/npm/-/npm/v1/security/audits/quick", "", 405, `"error"`)

	// Within the TTL, nothing is asked upstream again.
	before := up.Hits("/left-pad")
	f("GET", "/npm/left-pad", "", 200, "left-pad")
	if got := up.Hits("/left-pad"); got != before {
		t.Fatalf("a fresh packument was fetched again (%d -> %d)", before, got)
	}
	// Clients revalidate with our ETag.
	resp = f("GET", "/npm/left-pad", "", 200, "")
	f("GET", "/npm/left-pad", "", 304, "", "If-None-Match", resp.Header.Get("ETag"))
	// A different base (public_url or Host) is a different document.
	resp2 := f("GET", "/npm/left-pad", "", 200, "", "Host", "other.example:4000")
	if resp2.Header.Get("ETag") == resp.Header.Get("ETag") {
		t.Fatal("same ETag for documents rewritten for different hosts")
	}
}

func TestRateLimitAndRevalidation(t *testing.T) {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "pkg", "1.0.0", 10)
	n := startNora(t, npm.Config{Upstream: up.URL}) // ttl 0: always revalidate
	var mu sync.Mutex
	var limited bool
	var inm []string
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		inm = append(inm, r.Header.Get("If-None-Match"))
		if limited {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	if resp, _ := get(t, n.URL+"/npm/pkg"); resp.StatusCode != 200 {
		t.Fatalf("first GET: %d", resp.StatusCode)
	}
	if resp, _ := get(t, n.URL+"/npm/pkg"); resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "" {
		t.Fatalf("revalidated GET: %d", resp.StatusCode)
	}
	mu.Lock()
	if len(inm) != 2 || inm[0] != "" || inm[1] == "" {
		t.Fatalf("If-None-Match sent upstream: %q, want none then the ETag", inm)
	}
	limited = true
	mu.Unlock()
	// Cached: stale. Never cached: 429 with Retry-After relayed.
	if resp, _ := get(t, n.URL+"/npm/pkg"); resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatalf("rate limited, cached: %d stale=%q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, body := get(t, n.URL+"/npm/other")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("rate limited, never cached: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestFullAndAbbreviatedAreCachedApart(t *testing.T) {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "@s/p", "1.0.0", 10)
	n := startNora(t, npm.Config{Upstream: up.URL, TTL: units.Duration(time.Hour)})
	_, full := get(t, n.URL+"/npm/@s%2fp")
	resp, abbr := get(t, n.URL+"/npm/@s%2fp", "Accept", abbreviated)
	if bytes.Equal(full, abbr) || !bytes.Contains(full, []byte(`"readme"`)) || bytes.Contains(abbr, []byte(`"readme"`)) {
		t.Fatalf("full and abbreviated packuments mixed up:\n%s\n%s", full, abbr)
	}
	if resp.Header.Get("Vary") != "Accept" {
		t.Fatalf("Vary: %q", resp.Header.Get("Vary"))
	}
	if got := up.Hits("/@s/p"); got != 2 {
		t.Fatalf("upstream asked %d times for two kinds of packument, want 2", got)
	}
}

func TestTarballOnceAndOffline(t *testing.T) {
	up := npmtest.NewRegistry(t)
	path := up.Publish(t, "@s/big", "1.0.0", 1<<20)
	want := sha256.Sum256(npmtest.Tarball(t, "@s/big", "1.0.0", 1<<20))
	n := startNora(t, npm.Config{Upstream: up.URL})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, b := get(t, n.URL+"/npm/@s/big/-/big-1.0.0.tgz")
			if resp.StatusCode != 200 || sha256.Sum256(b) != want {
				t.Errorf("tarball: %d, %d bytes", resp.StatusCode, len(b))
			}
		})
	}
	wg.Wait()
	if got := up.Hits(path); got != 1 {
		t.Fatalf("tarball fetched %d times upstream for 8 clients, want 1", got)
	}
	// Cached tarballs need no packument and no upstream.
	up.Stop()
	resp, b := get(t, n.URL+"/npm/@s/big/-/big-1.0.0.tgz")
	if resp.StatusCode != 200 || sha256.Sum256(b) != want {
		t.Fatalf("cached tarball with upstream down: %d", resp.StatusCode)
	}
	resp, _ = get(t, n.URL+"/npm/@s/big/-/big-1.0.0.tgz", "Range", "bytes=0-9")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range on a cached tarball: %d", resp.StatusCode)
	}
}

func TestOfflineAndNoUpstream(t *testing.T) {
	f := func(cfg npm.Config) {
		t.Helper()
		n := startNora(t, cfg)
		for _, p := range []string{"/npm/x", "/npm/x/-/x-1.0.0.tgz", "/npm/-/npm/v1/security/advisories/bulk"} {
			method := "GET"
			if strings.Contains(p, "security") {
				method = "POST"
			}
			if resp, b := do(t, method, n.URL+p, strings.NewReader("{}")); resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("%+v: %s %s: %d %s, want 503", cfg, method, p, resp.StatusCode, b)
			}
		}
	}
	f(npm.Config{})
	f(npm.Config{Upstream: "http://127.0.0.1:9", Offline: true})
}

func TestAuditForwarded(t *testing.T) {
	up := npmtest.NewRegistry(t)
	n := startNora(t, npm.Config{Upstream: up.URL})
	const bulk = "/npm/-/npm/v1/security/advisories/bulk"
	resp, b := do(t, "POST", n.URL+bulk, strings.NewReader(`{"lodash":["4.17.20"]}`), "Content-Type", "application/json", "Content-Encoding", "gzip")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"bytes":22`) || !strings.Contains(string(b), `"encoding":"gzip"`) ||
		!strings.Contains(string(b), `"path":"/-/npm/v1/security/advisories/bulk"`) {
		t.Fatalf("audit: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", n.URL+"/npm/-/npm/v1/security/audits/quick", strings.NewReader(`{}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), "audits/quick") {
		t.Fatalf("quick audit: %d %s", resp.StatusCode, b)
	}
	big := bytes.Repeat([]byte("x"), 8<<20+1)
	if resp, b := do(t, "POST", n.URL+bulk, bytes.NewReader(big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("9 MiB audit: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, "POST", n.URL+bulk, struct{ *bytes.Reader }{bytes.NewReader(big)}); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("9 MiB chunked audit: %d %s", resp.StatusCode, b)
	}
	up.Stop()
	if resp, b := do(t, "POST", n.URL+bulk, strings.NewReader(`{}`)); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"error"`) {
		t.Fatalf("audit with upstream down: %d %s", resp.StatusCode, b)
	}
}

func TestInvalidUpstreamContent(t *testing.T) {
	up := npmtest.NewRegistry(t)
	n := startNora(t, npm.Config{Upstream: up.URL})
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/notjson":
			w.Write([]byte("<html>"))
		case "/badsum":
			w.Write([]byte(`{"versions":{"1.0.0":{"dist":{"tarball":"` + up.URL + `/badsum/-/badsum-1.0.0.tgz","shasum":"nothex"}}}}`))
		case "/wrongsum":
			w.Write([]byte(`{"versions":{"1.0.0":{"dist":{"tarball":"` + up.URL + `/wrongsum/-/wrongsum-1.0.0.tgz","shasum":"` + strings.Repeat("0", 40) + `"}}}}`))
		case "/wrongsum/-/wrongsum-1.0.0.tgz":
			w.Write([]byte("not the tarball"))
		default:
			return false
		}
		return true
	})
	for _, p := range []string{"/npm/notjson", "/npm/badsum/-/badsum-1.0.0.tgz"} {
		if resp, b := get(t, n.URL+p); resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s: %d %s, want 502", p, resp.StatusCode, b)
		}
	}
	// The bad bytes stream out and the connection is cut before their end.
	req, _ := http.NewRequest("GET", n.URL+"/npm/wrongsum/-/wrongsum-1.0.0.tgz", nil)
	if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
		var buf bytes.Buffer
		_, rerr := buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == 200 {
			t.Fatalf("tarball with a wrong shasum ended cleanly: %q", buf.String())
		}
	}
	n.WaitNoTempFiles(t, 20*time.Second)
	if n.Stored("refs/npm/wrongsum/-/wrongsum-1.0.0.tgz") {
		t.Fatal("tarball with a wrong shasum was cached")
	}
}
