// Package upstreamtest runs a real OCI registry on loopback behind a Docker
// Hub-like token server, with counters and fault hooks, for the end-to-end
// tests of the packages that pull through nora.
package upstreamtest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
)

// Service is the `service` the registry's challenges name.
const Service = "test-registry"

// Options configure New.
type Options struct {
	// Username and Password, if set, are what the token server demands as
	// Basic auth; otherwise it hands out tokens to anyone.
	Username, Password string
	// TokenExpiry is the lifetime of issued tokens (expires_in); default 5m.
	TokenExpiry time.Duration
}

// Registry is the running upstream. Counters count requests that passed
// the token check (a 401 is not a GET of anything), except Requests.
type Registry struct {
	URL  string // http://127.0.0.1:port
	Host string // 127.0.0.1:port, for image references
	// Realm is the token endpoint. It names "localhost" on another port:
	// another origin, as Docker Hub's auth service is, and a host name
	// because go-containerregistry refuses a realm that is a loopback IP
	// literal other than the registry's own host:port (SSRF guard).
	Realm string

	t       testing.TB
	opts    Options
	reg     http.Handler
	blobs   diskBlobs
	regAddr string
	tokAddr string

	mu        sync.Mutex
	servers   []*http.Server // nil while stopped
	tokens    map[string]grant
	issued    int
	requests  int
	blobGets  map[digest.Digest]int
	blobBytes map[digest.Digest]int64
	manGets   map[string]int // "repo:ref"
	manHeads  map[string]int
	hook      func(http.ResponseWriter, *http.Request) bool
	faults    map[digest.Digest]fault
	seed      uint64
}

// New starts the registry and its token server on 127.0.0.1 random ports;
// t.Cleanup stops them.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	if o.TokenExpiry <= 0 {
		o.TokenExpiry = 5 * time.Minute
	}
	quiet := log.New(io.Discard, "", 0)
	g := &Registry{
		t:         t,
		opts:      o,
		blobs:     diskBlobs{dir: t.TempDir()},
		tokens:    map[string]grant{},
		blobGets:  map[digest.Digest]int{},
		blobBytes: map[digest.Digest]int64{},
		manGets:   map[string]int{},
		manHeads:  map[string]int{},
		faults:    map[digest.Digest]fault{},
	}
	g.reg = registry.New(registry.Logger(quiet), registry.WithBlobHandler(g.blobs), registry.WithReferrersSupport(true))
	g.regAddr, g.tokAddr = "127.0.0.1:0", "127.0.0.1:0"
	g.Start()
	g.URL = "http://" + g.regAddr
	g.Host = g.regAddr
	_, port, _ := net.SplitHostPort(g.tokAddr)
	g.Realm = "http://localhost:" + port + "/token"
	t.Cleanup(g.Stop)
	return g
}

// Start listens again, on the same ports, with the same content. It calls
// t.Fatal when a port cannot be had, so call it from the test goroutine.
func (g *Registry) Start() {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.servers != nil {
		return
	}
	tokMux := http.NewServeMux()
	tokMux.HandleFunc("/token", g.serveToken)
	for _, s := range []struct {
		addr *string
		h    http.Handler
	}{{&g.regAddr, http.HandlerFunc(g.serve)}, {&g.tokAddr, tokMux}} {
		ln, err := net.Listen("tcp", *s.addr)
		if err != nil {
			for _, srv := range g.servers {
				srv.Close()
			}
			g.servers = nil
			g.t.Fatalf("cannot listen on %s: %v", *s.addr, err)
		}
		*s.addr = ln.Addr().String()
		srv := &http.Server{Handler: s.h, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		g.servers = append(g.servers, srv)
	}
}

// Stop closes both listeners and every open connection: the upstream is
// down (connections are refused) until Start.
func (g *Registry) Stop() {
	g.mu.Lock()
	servers := g.servers
	g.servers = nil
	g.mu.Unlock()
	for _, s := range servers {
		s.Close()
	}
}

// route is what a /v2/ path addresses.
type route struct {
	repo string // "" for /v2/, _catalog and unknown paths
	kind string // "manifests", "blobs", "uploads", "tags", "referrers"
	ref  string // tag or digest
}

func parseRoute(p string) route {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}
	}
	e := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	n := len(e)
	at := func(i int) string { // e[n-i], "" when out of range
		if n-i < 1 { // keep at least one element for the repository name
			return ""
		}
		return e[n-i]
	}
	repo := func(drop int) string { return strings.Join(e[:n-drop], "/") }
	switch {
	case at(2) == "manifests":
		return route{repo(2), "manifests", e[n-1]}
	case at(1) == "uploads" && at(2) == "blobs":
		return route{repo(2), "uploads", ""}
	case at(2) == "uploads" && at(3) == "blobs":
		return route{repo(3), "uploads", ""}
	case at(2) == "blobs":
		return route{repo(2), "blobs", e[n-1]}
	case at(1) == "list" && at(2) == "tags":
		return route{repo(2), "tags", ""}
	case at(2) == "referrers":
		return route{repo(2), "referrers", e[n-1]}
	}
	return route{}
}

// serve fronts the registry: count, demand a token (401 with a Docker
// Hub-style challenge), count what passed, run the hook and the faults,
// add the rate-limit header to manifests, delegate.
func (g *Registry) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.requests++
	g.mu.Unlock()

	rt := parseRoute(r.URL.Path)
	action := "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = "push"
	}
	if !g.authorized(r, rt.repo, action) {
		g.challenge(w, rt.repo, action)
		return
	}

	d, _ := digest.Parse(rt.ref)
	g.mu.Lock()
	switch {
	case rt.kind == "blobs" && r.Method == http.MethodGet && d != "":
		g.blobGets[d]++
	case rt.kind == "manifests" && r.Method == http.MethodGet:
		g.manGets[rt.repo+":"+rt.ref]++
	case rt.kind == "manifests" && r.Method == http.MethodHead:
		g.manHeads[rt.repo+":"+rt.ref]++
	}
	hook, f := g.hook, g.faults[d]
	g.mu.Unlock()

	if rt.kind == "blobs" && r.Method == http.MethodGet && d != "" {
		w = &countingWriter{ResponseWriter: w, g: g, d: d}
	}
	if rt.kind == "manifests" {
		w.Header().Set("Ratelimit-Limit", "100;w=21600")
		w.Header().Set("Ratelimit-Remaining", "100;w=21600")
	}
	if hook != nil && hook(w, r) {
		return
	}
	if f != nil && rt.kind == "blobs" && r.Method == http.MethodGet && f(w, r, d) {
		return
	}
	g.reg.ServeHTTP(w, r)
}

func (g *Registry) challenge(w http.ResponseWriter, repo, action string) {
	c := fmt.Sprintf(`Bearer realm=%q,service=%q`, g.Realm, Service)
	if repo != "" {
		scope := "repository:" + repo + ":pull"
		if action == "push" {
			scope += ",push"
		}
		c += fmt.Sprintf(`,scope=%q`, scope)
	}
	w.Header().Set("WWW-Authenticate", c)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}` + "\n"))
}

// countingWriter counts the body bytes written for one blob.
type countingWriter struct {
	http.ResponseWriter
	g *Registry
	d digest.Digest
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.g.mu.Lock()
	c.g.blobBytes[c.d] += int64(n)
	c.g.mu.Unlock()
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Requests is the number of requests the registry received (token server
// excluded), 401s included.
func (g *Registry) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// BlobGets is the number of authorized GETs of blob d, in any repository.
func (g *Registry) BlobGets(d digest.Digest) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blobGets[d]
}

// BlobBytes is the number of body bytes written for GETs of blob d.
func (g *Registry) BlobBytes(d digest.Digest) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blobBytes[d]
}

// ManifestGets is the number of authorized GETs of repo's manifest ref
// (tag or digest, as the client wrote it).
func (g *Registry) ManifestGets(repo, ref string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.manGets[repo+":"+ref]
}

// ManifestHeads is ManifestGets for HEAD (revalidation) requests.
func (g *Registry) ManifestHeads(repo, ref string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.manHeads[repo+":"+ref]
}

// ResetCounters zeroes every counter (typically after pushing content).
func (g *Registry) ResetCounters() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.issued, g.requests = 0, 0
	clear(g.blobGets)
	clear(g.blobBytes)
	clear(g.manGets)
	clear(g.manHeads)
}
