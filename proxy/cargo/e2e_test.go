package cargo_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
)

// The end-to-end tests run the real cargo against an in-process nora in
// front of cargotest, a sparse registry whose index host and download host
// are separate listeners, serving crates packaged by the real cargo.

func publishAcme(t *testing.T, up *cargotest.Registry) (dep, lib []byte) {
	t.Helper()
	dep, lib = packageCrates(t)
	up.Publish("acme-dep", "0.1.0", dep)
	up.Publish("acme-lib", "0.1.0", lib, cargotest.Dep{Name: "acme-dep", Req: "^0.1.0"})
	return dep, lib
}

// alwaysRevalidate is a [cargo] section with ttl 0, so every index request
// asks the upstream (conditionally) and an outage is served stale.
func alwaysRevalidate(up *cargotest.Registry) cargo.Config {
	cfg := cargo.DefaultConfig()
	cfg.Index = up.IndexURL
	cfg.TTL = 0
	return cfg
}

func TestCargoFetchThroughNora(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{DL: "/files/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}"})
	dep, lib := publishAcme(t, up)
	n := startNora(t, alwaysRevalidate(up))

	c := newClient(t, n.Addr)
	if out, err := c.fetch(t); err != nil {
		t.Fatalf("cargo fetch through nora: %v\n%s", err, out)
	}
	if !bytes.Equal(c.cachedCrate(t, "acme-lib-0.1.0.crate"), lib) || !bytes.Equal(c.cachedCrate(t, "acme-dep-0.1.0.crate"), dep) {
		t.Fatal("cargo's cached .crate files differ from the published ones")
	}
	lock := c.lockfile(t)
	if !strings.Contains(lock, `name = "acme-dep"`) {
		t.Fatalf("Cargo.lock lacks acme-dep:\n%s", lock)
	}

	// A second client: index files revalidated (304), crates from cache.
	before := up.NotModified()
	c2 := newClient(t, n.Addr)
	if out, err := c2.fetch(t); err != nil {
		t.Fatalf("second cargo fetch: %v\n%s", err, out)
	}
	if up.NotModified() == before {
		t.Error("nora did not revalidate the index files conditionally")
	}
	for _, name := range []string{"acme-lib", "acme-dep"} {
		if got := up.CrateGets(name, "0.1.0"); got != 1 {
			t.Errorf("%s downloaded %d times from upstream, want 1", name, got)
		}
	}

	// Upstream gone: a fresh CARGO_HOME is served from nora's cache.
	up.Stop()
	c3 := newClient(t, n.Addr)
	if out, err := c3.fetch(t); err != nil {
		t.Fatalf("cargo fetch with the upstream stopped: %v\n%s", err, out)
	}
	if !bytes.Equal(c3.cachedCrate(t, "acme-lib-0.1.0.crate"), lib) {
		t.Fatal("cached acme-lib differs")
	}
	resp, _ := get(t, "http://"+n.Addr+"/cargo/index/ac/me/acme-lib")
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatalf("stale index file: %d, X-Nora-Stale %q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
}

func TestCargoTamperedCrateRefused(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	_, lib := publishAcme(t, up)
	up.Tamper("acme-lib", "0.1.0", true)
	n := startNora(t, alwaysRevalidate(up))

	c := newClient(t, n.Addr)
	if out, err := c.fetch(t, "CARGO_NET_RETRY=0"); err == nil {
		t.Fatalf("cargo fetch accepted a tampered crate:\n%s", out)
	}
	if !strings.Contains(n.logs.String(), "fill refused") {
		t.Fatalf("nora logged no verify failure:\n%s", n.logs.String())
	}
	if n.Stored("refs/cargo/crates/acme-lib/0.1.0") {
		t.Fatal("the tampered crate was cached")
	}
	gets := up.CrateGets("acme-lib", "0.1.0")
	resp, err := http.Get("http://" + n.Addr + "/cargo/api/v1/crates/acme-lib/0.1.0/download")
	if err == nil {
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 {
			t.Fatal("nora served a tampered crate with a clean end")
		}
	}
	if up.CrateGets("acme-lib", "0.1.0") != gets+1 {
		t.Fatal("the tampered crate was not fetched again: something was cached")
	}

	up.Tamper("acme-lib", "0.1.0", false)
	if out, err := c.fetch(t); err != nil {
		t.Fatalf("cargo fetch after the upstream was fixed: %v\n%s", err, out)
	}
	if !bytes.Equal(c.cachedCrate(t, "acme-lib-0.1.0.crate"), lib) {
		t.Fatal("cached acme-lib differs")
	}
}

func TestCargoStatuses(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{}) // dl without markers
	cksum := up.Publish("acme-dep", "0.1.0", []byte("crate bytes"))
	up.Publish("ab", "1.0.0+build.1", []byte("two letters"))
	n := startNora(t, alwaysRevalidate(up))
	base := "http://" + n.Addr
	f := func(path string, wantStatus int, wantBody string, hdr ...string) *http.Response {
		t.Helper()
		resp, body := get(t, base+path, hdr...)
		if resp.StatusCode != wantStatus || !strings.Contains(string(body), wantBody) {
			t.Fatalf("GET %s = %d %s; want %d with %q", path, resp.StatusCode, body, wantStatus, wantBody)
		}
		return resp
	}
	errBody := func(path string, wantStatus int) {
		t.Helper()
		resp, body := get(t, base+path)
		var e struct {
			Errors []struct{ Detail string } `json:"errors"`
		}
		if resp.StatusCode != wantStatus || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Detail == "" {
			t.Fatalf("GET %s = %d %s; want %d with a cargo error body", path, resp.StatusCode, body, wantStatus)
		}
	}

	f("/cargo/index/config.json", 200, `{"dl":"`+base+`/cargo/api/v1/crates","api":"`+base+`/cargo"}`)
	resp := f("/cargo/index/ac/me/acme-dep", 200, `"cksum":"`+cksum+`"`)
	etag := resp.Header.Get("ETag")
	f("/cargo/index/ac/me/acme-dep", 304, "", "If-None-Match", etag)
	f("/cargo/index/ac/me/acme-dep", 304, "", "If-None-Match", `"x", W/`+etag)
	f("/cargo/index/AC/me/Acme-Dep", 200, cksum) // one cache entry whatever the case
	f("/cargo/index/2/ab", 200, "1.0.0+build.1")
	f("/cargo/api/v1/crates/acme-dep/0.1.0/download", 200, "crate bytes")
	f("/cargo/api/v1/crates/ab/1.0.0+build.1/download", 200, "two letters")

	// Real upstream 404s, and what is not a crate at all.
	errBody("/cargo/index/no/ne/nonexistent", 404)
	errBody("/cargo/api/v1/crates/nonexistent/1.0.0/download", 404)
	errBody("/cargo/api/v1/crates/acme-dep/9.9.9/download", 404)
	errBody("/cargo/index/xx/me/acme-dep", 404) // wrong prefix
	errBody("/cargo/index/3/a/acme-dep", 404)   // wrong rule
	errBody("/cargo/index/_a/bc/_abcd", 404)    // invalid name
	errBody("/cargo/api/v1/crates/acme-dep/../download", 404)
	errBody("/cargo/api/v1/crates/acme-dep/0.1.0/readme", 404)
	errBody("/cargo/other", 404)
	for _, m := range []string{"POST /cargo/api/v1/crates/new", "PUT /cargo/index/ac/me/acme-dep", "DELETE /cargo/api/v1/crates/acme-dep/0.1.0/download"} {
		method, path, _ := strings.Cut(m, " ")
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
			t.Fatalf("%s: %v %v", m, resp, err)
		}
	}

	// Rate limited upstream: 429 with its Retry-After for what was never
	// cached, the stale copy for what was.
	up.SetStatus(429, "7")
	resp = f("/cargo/index/ne/ve/never-seen", 429, "")
	if resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After = %q, want 7", resp.Header.Get("Retry-After"))
	}
	if resp := f("/cargo/index/ac/me/acme-dep", 200, cksum); resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatal("no X-Nora-Stale on a stale index file")
	}
	up.SetStatus(0, "")

	// Upstream down: 503 for the never cached, cached crates still served.
	up.Stop()
	time.Sleep(10 * time.Millisecond)
	errBody("/cargo/index/ne/ve/never-cached", 503)
	errBody("/cargo/api/v1/crates/never-cached/1.0.0/download", 503)
	f("/cargo/api/v1/crates/acme-dep/0.1.0/download", 200, "crate bytes")
	if !n.Stored("refs/cargo/crates/acme-dep/0.1.0") {
		t.Fatal("no ref for the downloaded crate")
	}
}

func TestCargoOffline(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	up.Publish("acme-dep", "0.1.0", []byte("crate bytes"))
	cfg := alwaysRevalidate(up)
	cfg.Offline = true
	n := startNora(t, cfg)
	resp, _ := get(t, "http://"+n.Addr+"/cargo/index/ac/me/acme-dep")
	if resp.StatusCode != 503 || up.IndexGets("acme-dep") != 0 {
		t.Fatalf("offline, never cached: %d, upstream asked %d times", resp.StatusCode, up.IndexGets("acme-dep"))
	}
}
