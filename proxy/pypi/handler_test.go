package pypi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"nora/proxy/pypi/pypitest"
)

// The handler tests drive nora with plain HTTP requests in front of a
// pypitest upstream holding generated files (no Python needed).

const (
	demoWheel = "demo_pkg-1.0-py3-none-any.whl"
	demoLocal = "demo_pkg-1.0+cu121-py3-none-any.whl"
	demoSdist = "demo_pkg-1.0.tar.gz"
	demoMeta  = "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\n"
	acceptPip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// demoUpstream publishes one project under three spellings of its name.
func demoUpstream(t testing.TB, o pypitest.Options) *pypitest.Server {
	up := pypitest.New(t, o)
	up.Add("Demo_Pkg", pypitest.File{Name: demoWheel, Data: randomBytes(64<<10, 1), Metadata: []byte(demoMeta), RequiresPython: ">=3.8,<4"})
	up.Add("demo-pkg", pypitest.File{Name: demoLocal, Data: randomBytes(32<<10, 2)})
	up.Add("demo.pkg", pypitest.File{Name: demoSdist, Data: randomBytes(16<<10, 3), Yanked: "broken & old"})
	return up
}

type simpleJSON struct {
	Meta  map[string]string `json:"meta"`
	Name  string            `json:"name"`
	Files []struct {
		Filename       string            `json:"filename"`
		URL            string            `json:"url"`
		Hashes         map[string]string `json:"hashes"`
		RequiresPython *string           `json:"requires-python"`
		Yanked         any               `json:"yanked"`
		CoreMetadata   any               `json:"core-metadata"`
	} `json:"files"`
}

func TestPageRepresentations(t *testing.T) {
	for _, o := range []pypitest.Options{{}, {HTMLOnly: true}, {RelativeLinks: true}} {
		up := demoUpstream(t, o)
		n := startNora(t, pypiConfig(up))
		page := n.URL + "/simple/demo-pkg/"

		resp, body := httpGet(t, page, "Accept", acceptPip)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.pypi.simple.v1+json" || resp.Header.Get("Vary") != "Accept" {
			t.Fatalf("%+v: JSON page: %d %v\n%s", o, resp.StatusCode, resp.Header, body)
		}
		var js simpleJSON
		if err := json.Unmarshal(body, &js); err != nil {
			t.Fatal(err)
		}
		if js.Name != "demo-pkg" || js.Meta["api-version"] == "" || len(js.Files) != 3 {
			t.Fatalf("%+v: JSON page: %s", o, body)
		}
		for _, f := range js.Files {
			wantURL := n.URL + "/simple/demo-pkg/" + strings.ReplaceAll(f.Filename, "+", "%2B")
			if f.URL != wantURL || f.Hashes["sha256"] != up.SHA256(f.Filename) {
				t.Fatalf("%+v: file %s: url %s hashes %v, want %s", o, f.Filename, f.URL, f.Hashes, wantURL)
			}
			switch f.Filename {
			case demoWheel:
				md, _ := f.CoreMetadata.(map[string]any)
				if f.RequiresPython == nil || *f.RequiresPython != ">=3.8,<4" || md["sha256"] == nil {
					t.Fatalf("%+v: wheel lost requires-python or core-metadata: %s", o, body)
				}
			case demoSdist:
				if f.Yanked != "broken & old" {
					t.Fatalf("%+v: yank reason lost: %s", o, body)
				}
			}
		}
		if bytes.Contains(body, []byte("dist-info-metadata")) {
			t.Fatalf("JSON carries dist-info-metadata: %s", body)
		}

		resp, body = httpGet(t, page, "Accept", "text/html")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%+v: HTML page: %d %v", o, resp.StatusCode, resp.Header)
		}
		for _, want := range []string{
			`href="` + n.URL + `/simple/demo-pkg/demo_pkg-1.0%2Bcu121-py3-none-any.whl#sha256=` + up.SHA256(demoLocal) + `"`,
			`data-requires-python="&gt;=3.8,&lt;4"`,
			`data-yanked="broken &amp; old"`,
			`data-core-metadata="sha256=`, `data-dist-info-metadata="sha256=`,
			`>demo_pkg-1.0+cu121-py3-none-any.whl</a>`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Fatalf("%+v: HTML page lacks %s:\n%s", o, want, body)
			}
		}
		resp, _ = httpGet(t, page, "Accept", "application/vnd.pypi.simple.v1+html")
		if resp.Header.Get("Content-Type") != "application/vnd.pypi.simple.v1+html" {
			t.Fatalf("v1+html: %v", resp.Header)
		}
		resp, _ = httpGet(t, page) // no Accept: HTML
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("no Accept: %v", resp.Header)
		}

		etag := resp.Header.Get("ETag")
		resp, body = httpGet(t, page, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("If-None-Match %s: %d", etag, resp.StatusCode)
		}
		resp, _ = httpGet(t, page, "If-None-Match", etag, "Accept", acceptPip)
		if resp.StatusCode != 200 {
			t.Fatalf("the JSON view has the HTML view's ETag")
		}
		if got := up.PageGets("demo-pkg"); got != 1 {
			t.Fatalf("%+v: upstream page fetched %d times within the TTL, want 1", o, got)
		}
	}
}

func TestRoutes(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	f := func(method, path string, wantStatus int, wantLocation string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.URL+path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus || resp.Header.Get("Location") != wantLocation {
			t.Fatalf("%s %s: %d %q, want %d %q\n%s", method, path, resp.StatusCode, resp.Header.Get("Location"), wantStatus, wantLocation, body)
		}
		if wantStatus >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s %s: error as %s", method, path, resp.Header.Get("Content-Type"))
		}
	}
	f("GET", "/simple/", 200, "")
	f("GET", "/simple/Demo_Pkg/", 301, n.URL+"/simple/demo-pkg/")
	f("GET", "/simple/demo.pkg/", 301, n.URL+"/simple/demo-pkg/")
	f("GET", "/simple/demo-pkg", 301, n.URL+"/simple/demo-pkg/")
	f("GET", "/simple/DEMO-PKG/"+demoSdist, 301, n.URL+"/simple/demo-pkg/"+demoSdist)
	f("GET", "/simple/Demo_Pkg/demo_pkg-1.0%2Bcu121-py3-none-any.whl", 301, n.URL+"/simple/demo-pkg/demo_pkg-1.0%2Bcu121-py3-none-any.whl")
	f("GET", "/simple/-demo/", 404, "")
	f("GET", "/simple/demo%20pkg/", 404, "")
	f("GET", "/simple/d%C3%A9mo/", 404, "")
	f("GET", "/simple/demo-pkg/a/b", 404, "")
	f("GET", "/simple/demo-pkg/.hidden", 404, "")
	f("GET", "/simple/demo-pkg/not-listed.whl", 404, "")
	f("GET", "/simple/demo-pkg/"+demoSdist+".metadata", 404, "") // no metadata declared
	f("HEAD", "/simple/demo-pkg/", 200, "")
	f("POST", "/simple/", 403, "") // an upload, and no htpasswd
	f("POST", "/simple/demo-pkg/", 405, "")
	f("DELETE", "/simple/demo-pkg/", 405, "")

	resp, body := httpGet(t, n.URL+"/simple/", "Accept", acceptPip)
	if resp.StatusCode != 200 || !json.Valid(body) || resp.Header.Get("Content-Type") != "application/vnd.pypi.simple.v1+json" {
		t.Fatalf("root as JSON: %d %s", resp.StatusCode, body)
	}
}

func TestFiles(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	base := n.URL + "/simple/demo-pkg/"
	want := map[string][]byte{
		demoLocal: randomBytes(32<<10, 2), demoWheel: randomBytes(64<<10, 1), demoWheel + ".metadata": []byte(demoMeta),
	}
	f := func(path, name string, hdr ...string) *http.Response {
		t.Helper()
		resp, body := httpGet(t, base+path, hdr...)
		if resp.StatusCode != 200 && resp.StatusCode != 206 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if resp.StatusCode == 200 && !bytes.Equal(body, want[name]) {
			t.Fatalf("GET %s: wrong bytes", path)
		}
		return resp
	}
	f("demo_pkg-1.0%2Bcu121-py3-none-any.whl", demoLocal)
	f("demo_pkg-1.0+cu121-py3-none-any.whl", demoLocal)
	f("demo_pkg-1.0%2bcu121-py3-none-any.whl", demoLocal)
	if got := up.Gets(demoLocal); got != 1 {
		t.Fatalf("%s fetched %d times upstream, want 1", demoLocal, got)
	}
	f(demoWheel+".metadata", demoWheel+".metadata")
	f(demoWheel+".metadata", demoWheel+".metadata")
	if got, gotWheel := up.MetadataGets(demoWheel), up.Gets(demoWheel); got != 1 || gotWheel != 0 {
		t.Fatalf("metadata fetched %d times, wheel %d times; want 1 and 0", got, gotWheel)
	}
	f(demoWheel, demoWheel, "Range", "bytes=10-19") // a fill in progress is sent whole
	if resp := f(demoWheel, demoWheel, "Range", "bytes=10-19"); resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 10-19/65536" {
		t.Fatalf("range of a cached wheel: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest(http.MethodHead, base+demoWheel, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 64<<10 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
}

// readAll GETs url and reports whether the body arrived cleanly with 200.
func cleanGet(url string) (int, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err == nil && resp.StatusCode == 200
}

func TestTamperedFiles(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	for _, name := range []string{demoWheel + ".metadata", demoWheel, demoLocal} {
		up.Tamper(name, true)
		for range 2 {
			if status, clean := cleanGet(n.URL + "/simple/demo-pkg/" + strings.ReplaceAll(name, "+", "%2B")); clean || (status != 0 && status != 200 && status != 502) {
				t.Fatalf("tampered %s: status %d, clean %v", name, status, clean)
			}
		}
		up.Tamper(name, false)
		if status, clean := cleanGet(n.URL + "/simple/demo-pkg/" + name); !clean {
			t.Fatalf("%s after the upstream was fixed: %d", name, status)
		}
	}
	if !n.Stored("refs/pypi/demo-pkg/_metadata/"+demoWheel) || !n.Stored("refs/pypi/demo-pkg/_files/"+demoLocal) {
		t.Fatal("good files not cached")
	}
}

func TestFreshness(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	cfg := pypiConfig(up)
	cfg.TTL = 0
	n := startNora(t, cfg)
	page := n.URL + "/simple/demo-pkg/"

	resp, first := httpGet(t, page, "Accept", acceptPip)
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	resp, again := httpGet(t, page, "Accept", acceptPip)
	if resp.StatusCode != 200 || !bytes.Equal(first, again) || up.NotModified() != 1 || resp.Header.Get("X-Nora-Stale") != "" {
		t.Fatalf("revalidation: %d, %d 304s upstream, stale %q", resp.StatusCode, up.NotModified(), resp.Header.Get("X-Nora-Stale"))
	}
	// Upstream errors: the cached page is served stale.
	for _, status := range []int{500, 429} {
		up.SetStatus("demo-pkg", status)
		resp, body := httpGet(t, page, "Accept", acceptPip)
		if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" || !bytes.Equal(body, first) {
			t.Fatalf("upstream %d: %d, stale %q", status, resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
		}
		up.SetStatus("demo-pkg", 0)
		waitStatus(t, page, 200) // the breaker closes again
	}

	// Never cached: 503 for an outage, 429 relayed, 404 only when upstream says so.
	up.Add("other", pypitest.File{Name: "other-1.tar.gz", Data: []byte("x")})
	up.SetStatus("other", 500)
	if resp, body := httpGet(t, n.URL+"/simple/other/"); resp.StatusCode != 503 {
		t.Fatalf("upstream 500, never cached: %d %s", resp.StatusCode, body)
	}
	waitStatus(t, page, 200)
	up.SetStatus("other", 429)
	if resp, _ := httpGet(t, n.URL+"/simple/other/"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("upstream 429, never cached: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for range 3 {
		if resp, body := httpGet(t, n.URL+"/simple/missing/"); resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("missing project: %d %s", resp.StatusCode, body)
		}
	}
	if got := up.PageGets("missing"); got != 1 {
		t.Fatalf("a missing project was asked upstream %d times within negative_ttl, want 1", got)
	}
}

func TestUpstreamDown(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	cfg := pypiConfig(up)
	cfg.TTL = 0
	n := startNora(t, cfg)
	if status, clean := cleanGet(n.URL + "/simple/demo-pkg/" + demoWheel); !clean {
		t.Fatalf("wheel: %d", status)
	}
	up.Stop()
	f := func(path string, wantStatus int, wantStale string) {
		t.Helper()
		resp, body := httpGet(t, n.URL+path)
		if resp.StatusCode != wantStatus || resp.Header.Get("X-Nora-Stale") != wantStale {
			t.Fatalf("%s with upstream down: %d stale %q, want %d %q\n%s", path, resp.StatusCode, resp.Header.Get("X-Nora-Stale"), wantStatus, wantStale, body)
		}
	}
	f("/simple/demo-pkg/", 200, "1")
	f("/simple/demo-pkg/"+demoWheel, 200, "")
	f("/simple/demo-pkg/"+demoSdist, 503, "") // listed, never fetched
	f("/simple/never-seen/", 503, "")
	f("/simple/never-seen/x-1.whl", 503, "")
}

func TestOffline(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	cfg := pypiConfig(up)
	cfg.Offline = true
	n := startNora(t, cfg)
	if resp, _ := httpGet(t, n.URL+"/simple/demo-pkg/"); resp.StatusCode != 503 {
		t.Fatalf("offline, never cached: %d", resp.StatusCode)
	}
	if up.PageGets("demo-pkg") != 0 {
		t.Fatal("offline nora asked the upstream")
	}
	cfg.Upstream = ""
	n = startNora(t, cfg)
	if resp, _ := httpGet(t, n.URL+"/simple/demo-pkg/"); resp.StatusCode != 503 {
		t.Fatalf("no upstream, never cached: %d", resp.StatusCode)
	}
}

func TestConcurrentColdFile(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNora(t, pypiConfig(up))
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			if status, clean := cleanGet(n.URL + "/simple/demo-pkg/" + demoWheel); !clean {
				errs <- http.StatusText(status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("concurrent GET: %s", e)
	}
	if got := up.Gets(demoWheel); got != 1 {
		t.Fatalf("16 concurrent cold GETs made %d upstream requests, want 1", got)
	}
}
