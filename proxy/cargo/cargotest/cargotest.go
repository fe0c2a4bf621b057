// Package cargotest is a small sparse registry for tests that speaks the
// protocol as crates.io does: an index host (config.json, index files with
// ETag and Last-Modified, answering conditional requests with 304) and a
// separate download host for the .crate files that config.json's dl names.
// Both can be stopped and started again on the same ports; a .crate can be
// tampered with (same length, other bytes); requests are counted.
package cargotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape the registry.
type Options struct {
	// DL is config.json's dl below the download host's root. "" means
	// "/crates", the form without markers (cargo appends
	// /{crate}/{version}/download); a template may use {crate},
	// {version}, {prefix}, {lowerprefix} and {sha256-checksum}.
	DL string
}

// Dep is one dependency of a published version.
type Dep struct {
	Name string
	Req  string // "^0.1.0"
	Kind string // "normal" (default), "dev" or "build"
}

// Registry is the running pair of hosts.
type Registry struct {
	IndexURL  string // index root, with a trailing slash: sparse+<IndexURL>
	StaticURL string // download host root, without a trailing slash

	dl            string
	index, static *server

	mu          sync.Mutex
	files       map[string]*indexFile // by lowercased name
	crates      map[string]*crate     // by download path
	byVersion   map[string]*crate     // by "name/vers"
	status      int                   // forced answer of the index host; 0: none
	retryAfter  string
	indexGets   map[string]int
	notModified int
}

type indexFile struct {
	body     []byte
	modified time.Time
}

type crate struct {
	body     []byte
	tampered bool
	gets     int
}

// New starts both hosts on loopback; they stop when the test ends.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	if o.DL == "" {
		o.DL = "/crates"
	}
	r := &Registry{dl: o.DL, files: map[string]*indexFile{}, crates: map[string]*crate{},
		byVersion: map[string]*crate{}, indexGets: map[string]int{}}
	r.index = &server{addr: "127.0.0.1:0", h: http.HandlerFunc(r.serveIndex)}
	r.static = &server{addr: "127.0.0.1:0", h: http.HandlerFunc(r.serveStatic)}
	for _, s := range []*server{r.index, r.static} {
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
	}
	r.IndexURL = "http://" + r.index.addr + "/"
	r.StaticURL = "http://" + r.static.addr
	t.Cleanup(r.Stop)
	return r
}

// Publish adds version vers of crate name with the .crate bytes body and
// returns its cksum (sha256 hex), as the index lists it.
func (r *Registry) Publish(name, vers string, body []byte, deps ...Dep) string {
	sum := sha256.Sum256(body)
	cksum := hex.EncodeToString(sum[:])
	type dep struct {
		Name            string   `json:"name"`
		Req             string   `json:"req"`
		Features        []string `json:"features"`
		Optional        bool     `json:"optional"`
		DefaultFeatures bool     `json:"default_features"`
		Target          *string  `json:"target"`
		Kind            string   `json:"kind"`
	}
	line := struct {
		Name     string              `json:"name"`
		Vers     string              `json:"vers"`
		Deps     []dep               `json:"deps"`
		Cksum    string              `json:"cksum"`
		Features map[string][]string `json:"features"`
		Yanked   bool                `json:"yanked"`
	}{Name: name, Vers: vers, Deps: []dep{}, Cksum: cksum, Features: map[string][]string{}}
	for _, d := range deps {
		kind := d.Kind
		if kind == "" {
			kind = "normal"
		}
		line.Deps = append(line.Deps, dep{Name: d.Name, Req: d.Req, Features: []string{}, DefaultFeatures: true, Kind: kind})
	}
	b, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := strings.ToLower(name)
	f := r.files[key]
	if f == nil {
		f = &indexFile{}
		r.files[key] = f
	}
	f.body = append(append(f.body, b...), '\n')
	f.modified = time.Now()
	c := &crate{body: body}
	r.crates[r.downloadPath(name, vers, cksum)] = c
	r.byVersion[name+"/"+vers] = c
	return cksum
}

// Tamper makes the download host send other bytes of the same length for
// a version (on) or the published ones again (off).
func (r *Registry) Tamper(name, vers string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byVersion[name+"/"+vers].tampered = on
}

// SetStatus makes the index host answer every request with status (and
// Retry-After if not ""); 0 restores normal service.
func (r *Registry) SetStatus(status int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.retryAfter = status, retryAfter
}

// IndexGets counts the requests for name's index file (304s included).
func (r *Registry) IndexGets(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.indexGets[strings.ToLower(name)]
}

// NotModified counts the 304 answers of the index host.
func (r *Registry) NotModified() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notModified
}

// CrateGets counts the downloads of a version.
func (r *Registry) CrateGets(name, vers string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.byVersion[name+"/"+vers]; c != nil {
		return c.gets
	}
	return 0
}

// Stop closes both hosts (connections refused from then on).
func (r *Registry) Stop() {
	r.index.stop()
	r.static.stop()
}

// Start serves again on the same ports.
func (r *Registry) Start() error {
	if err := r.index.start(); err != nil {
		return err
	}
	return r.static.start()
}

func (r *Registry) serveIndex(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status != 0 {
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
		http.Error(w, http.StatusText(r.status), r.status)
		return
	}
	p := strings.TrimPrefix(req.URL.Path, "/")
	if p == "config.json" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"dl": r.StaticURL + r.dl, "api": strings.TrimSuffix(r.IndexURL, "/")})
		return
	}
	i := strings.LastIndexByte(p, '/')
	name := p[i+1:]
	if i < 0 || p[:i] != IndexDir(name) || name != strings.ToLower(name) {
		http.NotFound(w, req)
		return
	}
	r.indexGets[name]++
	f := r.files[name]
	if f == nil {
		http.NotFound(w, req)
		return
	}
	sum := sha256.Sum256(f.body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	lastMod := f.modified.UTC().Format(http.TimeFormat)
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", lastMod)
	inm, ims := req.Header.Get("If-None-Match"), req.Header.Get("If-Modified-Since")
	if inm == etag || (inm == "" && ims != "" && ims == lastMod) {
		r.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	w.Write(f.body)
}

func (r *Registry) serveStatic(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	c := r.crates[req.URL.RequestURI()]
	var body []byte
	if c != nil {
		c.gets++
		body = c.body
		if c.tampered {
			body = append([]byte(nil), body...)
			body[len(body)/2] ^= 0xff
		}
	}
	r.mu.Unlock()
	if c == nil {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	// Ranges too, as a CDN answers: a download cut mid-way is resumed.
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(body))
}

// downloadPath is where the download host serves a version, by the dl
// template (this package's own reading of the format, so that nora's is
// checked against an independent one).
func (r *Registry) downloadPath(name, vers, cksum string) string {
	if !strings.Contains(r.dl, "{") {
		return r.dl + "/" + name + "/" + vers + "/download"
	}
	p := r.dl
	for _, kv := range [][2]string{
		{"{crate}", name}, {"{version}", vers}, {"{lowerprefix}", strings.ToLower(IndexDir(name))},
		{"{prefix}", IndexDir(name)}, {"{sha256-checksum}", cksum},
	} {
		p = strings.ReplaceAll(p, kv[0], kv[1])
	}
	return p
}

// IndexDir is the sparse index directory of a crate name (1/, 2/, 3/a/,
// se/rd/).
func IndexDir(name string) string {
	switch n := len(name); {
	case n <= 2:
		return strconv.Itoa(n)
	case n == 3:
		return "3/" + name[:1]
	default:
		return name[:2] + "/" + name[2:4]
	}
}

// server is one listener that can stop and start on the same address.
type server struct {
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}
