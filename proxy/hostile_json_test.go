package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
)

// deepJSON is a JSON document whose field x nests depth arrays.
func deepJSON(head string, depth int) string {
	return head + `"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}"
}

// hostileUpstream speaks just enough of the registry and simple APIs to
// hand nora documents no one should have to hold: nested 100,000 deep, or
// 50 MB.
func hostileUpstream(t *testing.T) (*httptest.Server, map[string]int) {
	t.Helper()
	hits := map[string]int{} // read after the requests that made them
	const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits[r.URL.Path]++
		switch r.URL.Path {
		case "/v2/":
			io.WriteString(w, "{}")
		case "/v2/library/deep/manifests/v1":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			io.WriteString(w, deepJSON(manifest, 100_000))
		case "/v2/library/huge/manifests/v1":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			io.WriteString(w, manifest+`"annotations":{"a":"`)
			io.Copy(w, io.LimitReader(filler('a'), 50<<20))
			io.WriteString(w, `"}}`)
		case "/simple/deep/":
			w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
			io.WriteString(w, deepJSON(`{"meta":{"api-version":"1.1"},"name":"deep","files":[],`, 100_000))
		case "/simple/huge/":
			w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
			io.WriteString(w, `{"meta":{"api-version":"1.1"},"name":"huge","files":[],"x":"`)
			io.Copy(w, io.LimitReader(filler('a'), 50<<20))
			io.WriteString(w, `"}`)
		case "/index/config.json":
			io.WriteString(w, `{"dl":"http://`+r.Host+`/dl"}`)
		case "/index/de/ep/deep":
			io.WriteString(w, deepJSON(`{"name":"deep","vers":"1.0.0","deps":[],"cksum":"`+strings.Repeat("0", 64)+`","features":{},`, 100_000)+"\n")
		case "/index/hu/ge/huge":
			io.WriteString(w, `{"name":"huge","vers":"1.0.0","deps":[],"features":{},"x":"`)
			io.Copy(w, io.LimitReader(filler('a'), 50<<20))
			io.WriteString(w, "\"}\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

// Deeply nested and huge JSON from an upstream (OCI manifests, PyPI
// JSON pages, cargo index files) and from a client (a pushed manifest, an npm publish): each
// is refused in the format's error, nothing is cached (the upstream is
// asked again), and nora goes on serving.
func TestHostileJSON(t *testing.T) {
	up, hits := hostileUpstream(t)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), PyPI: pypi.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	cfg.PyPI.Upstream = up.URL + "/simple/"
	cfg.Cargo = cargo.DefaultConfig()
	cfg.Cargo.Index = up.URL + "/index/"
	n := proxytest.Start(t, cfg)
	get := func(path, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.URL+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return resp.StatusCode, string(b)
	}
	f := func(path, accept, upPath, shape string) {
		t.Helper()
		for try := range 2 {
			status, msg := get(path, accept)
			if status != http.StatusBadGateway || !strings.Contains(msg, shape) {
				t.Fatalf("%s: %d %.300s; want 502 with %s", path, status, msg, shape)
			}
			if hits[upPath] != try+1 {
				t.Fatalf("%s: request %d made %d upstream requests: the document was cached", path, try+1, hits[upPath])
			}
		}
	}
	oci := "application/vnd.oci.image.manifest.v1+json"
	f("/v2/library/deep/manifests/v1", oci, "/v2/library/deep/manifests/v1", `"errors"`)
	f("/v2/library/huge/manifests/v1", oci, "/v2/library/huge/manifests/v1", `"errors"`)
	pep691 := "application/vnd.pypi.simple.v1+json"
	f("/simple/deep/", pep691, "/simple/deep/", "deep")
	f("/simple/huge/", pep691, "/simple/huge/", "huge")
	f("/cargo/index/de/ep/deep", "*/*", "/index/de/ep/deep", `"errors"`)
	f("/cargo/index/hu/ge/huge", "*/*", "/index/hu/ge/huge", `"errors"`)
	if status, msg := get("/health", "*/*"); status != 200 {
		t.Fatalf("/health after hostile documents: %d %s", status, msg)
	}
}

// A client's deeply nested manifest and npm publish are refused.
func TestHostileJSONPushed(t *testing.T) {
	n := startHostileBodies(t)
	f := func(method, target, ctype, body string, status int, shape string) {
		t.Helper()
		got, _, msg := hostileExchange(t, n.Addr, method, target,
			[]string{"Content-Type: " + ctype + "\r\n", "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"}, strings.NewReader(body))
		if got != status || !strings.Contains(msg, shape) {
			t.Fatalf("%s %s: %d %.300s; want %d with %s", method, target, got, msg, status, shape)
		}
	}
	deep := deepJSON(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`, 100_000)
	f("PUT", "/v2/acme/app/manifests/deep", "application/vnd.oci.image.manifest.v1+json", deep, 400, `"MANIFEST_INVALID"`)
	deep = deepJSON(`{"name":"@acme/deep","versions":{},`, 100_000)
	f("PUT", "/npm/@acme%2fdeep", "application/json", deep, 400, `"error"`)
	n.WaitNoTempFiles(t, 10*time.Second)
}
