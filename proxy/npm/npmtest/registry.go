package npmtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Registry is a small npm registry in Go: packuments (full and
// abbreviated, with ETag and 304), tarballs, and an audit endpoint that
// echoes what it got. It counts requests, for tests that check how often
// nora asked. The benchmarks use it where verdaccio would measure node.
type Registry struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	pkgs     map[string]map[string]version // name -> version -> version
	tarballs map[string][]byte             // URL path -> bytes
	hits     map[string]int
	hook     func(w http.ResponseWriter, r *http.Request) bool
}

type version struct {
	file      string
	integrity string
	shasum    string
}

// NewRegistry starts a Registry on loopback. It stops with the test.
func NewRegistry(t testing.TB) *Registry {
	g := &Registry{pkgs: map[string]map[string]version{}, tarballs: map[string][]byte{}, hits: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serveHTTP))
	g.URL = g.srv.URL
	t.Cleanup(g.srv.Close)
	return g
}

// Stop makes the registry unreachable (for good).
func (g *Registry) Stop() { g.srv.Close() }

// SetHook runs h before every request; h returns true if it answered.
func (g *Registry) SetHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	g.mu.Lock()
	g.hook = h
	g.mu.Unlock()
}

// Hits counts the requests for exactly path (decoded, "/@acme/dep").
func (g *Registry) Hits(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[path]
}

// Publish adds a version whose tarball holds package.json and size bytes
// of random data, and returns the tarball's URL path.
func (g *Registry) Publish(t testing.TB, name, ver string, size int) string {
	t.Helper()
	tgz := Tarball(t, name, ver, size)
	unscoped := name[strings.LastIndex(name, "/")+1:]
	file := unscoped + "-" + ver + ".tgz"
	s1 := sha1.Sum(tgz)
	s512 := sha512.Sum512(tgz)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pkgs[name] == nil {
		g.pkgs[name] = map[string]version{}
	}
	g.pkgs[name][ver] = version{file: file, integrity: "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), shasum: hex.EncodeToString(s1[:])}
	p := "/" + name + "/-/" + file
	g.tarballs[p] = tgz
	return p
}

// Tarball builds an npm package tarball (package/package.json and
// package/data.bin of size random bytes).
func Tarball(t testing.TB, name, ver string, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	manifest, _ := json.Marshal(map[string]string{"name": name, "version": ver})
	data := make([]byte, size)
	seed := sha256.Sum256([]byte(name + "@" + ver))
	rand.NewChaCha8(seed).Read(data)
	for _, f := range []struct {
		name string
		body []byte
	}{{"package/package.json", manifest}, {"package/data.bin", data}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func (g *Registry) serveHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.hits[r.URL.Path]++
	hook := g.hook
	g.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/-/npm/v1/security/"):
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"path": p, "bytes": len(b), "encoding": r.Header.Get("Content-Encoding")})
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
	case strings.Contains(p, "/-/"):
		g.mu.Lock()
		b, ok := g.tarballs[p]
		g.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		// Ranges too, as the registry's CDN answers: a download cut
		// mid-way is resumed.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	default:
		g.packument(w, r, strings.TrimPrefix(p, "/"))
	}
}

func (g *Registry) packument(w http.ResponseWriter, r *http.Request, name string) {
	abbreviated := strings.Contains(r.Header.Get("Accept"), "application/vnd.npm.install-v1+json")
	g.mu.Lock()
	vers, ok := g.pkgs[name]
	versions := map[string]any{}
	latest := ""
	for v, d := range vers {
		doc := map[string]any{
			"name": name, "version": v,
			"dist": map[string]string{"tarball": g.URL + "/" + name + "/-/" + d.file, "integrity": d.integrity, "shasum": d.shasum},
		}
		if !abbreviated {
			doc["description"] = "fixture " + name
			doc["_id"] = name + "@" + v
		}
		versions[v] = doc
		latest = max(latest, v)
	}
	g.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"not found"}`)
		return
	}
	doc := map[string]any{"name": name, "dist-tags": map[string]string{"latest": latest}, "versions": versions}
	ct := "application/vnd.npm.install-v1+json"
	if !abbreviated {
		doc["readme"] = "# " + name
		ct = "application/json"
	}
	b, _ := json.Marshal(doc)
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", ct)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(b)
}
