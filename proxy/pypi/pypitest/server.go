// Package pypitest is a small upstream that really speaks the Python simple
// repository API, for nora's tests: PEP 503 HTML and PEP 691 JSON by
// Accept, ETag/If-None-Match, PEP 658 metadata files, and the files served
// from a separate listener (a "files host"), as PyPI does. It can be
// stopped and started, serve tampered bytes and count requests per file.
package pypitest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape the upstream.
type Options struct {
	// HTMLOnly makes the index answer HTML whatever the client accepts (an
	// index from before PEP 691).
	HTMLOnly bool
	// RelativeLinks serves the files from the index listener too and links
	// them with relative URLs ("../../files/...").
	RelativeLinks bool
}

// File is one distribution file.
type File struct {
	Name           string
	Data           []byte
	Metadata       []byte // PEP 658 core metadata; nil: none
	RequiresPython string
	Yanked         string // non-empty: yanked with this reason
}

type file struct {
	File
	project  string
	sum      string
	mdSum    string
	tampered bool
	mdTamper bool
	gets     int
	mdGets   int
}

// Server is the upstream. IndexURL is the simple root to configure nora
// with; FilesURL the files host.
type Server struct {
	IndexURL string
	FilesURL string

	t         testing.TB
	opts      Options
	indexAddr string
	filesAddr string

	mu       sync.Mutex
	projects map[string][]*file // normalized name -> files
	files    map[string]*file   // by filename
	status   map[string]int     // forced status per project
	pageGets map[string]int
	notMod   int
	servers  []*http.Server
}

// New starts an upstream on two loopback listeners; it stops at cleanup.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{
		t: t, opts: o,
		projects: map[string][]*file{}, files: map[string]*file{},
		status: map[string]int{}, pageGets: map[string]int{},
	}
	s.indexAddr, s.filesAddr = "127.0.0.1:0", "127.0.0.1:0"
	s.Start()
	s.IndexURL = "http://" + s.indexAddr + "/simple/"
	s.FilesURL = "http://" + s.filesAddr
	t.Cleanup(s.Stop)
	return s
}

// Start (re)opens both listeners on their addresses.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) > 0 {
		return
	}
	for _, addr := range []*string{&s.indexAddr, &s.filesAddr} {
		var ln net.Listener
		var err error
		// A port just closed may linger briefly.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if ln, err = net.Listen("tcp", *addr); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			s.t.Fatalf("pypitest: cannot listen on %s: %v", *addr, err)
		}
		*addr = ln.Addr().String()
		h := http.Handler(http.HandlerFunc(s.serveFiles))
		if addr == &s.indexAddr {
			h = http.HandlerFunc(s.serveIndex)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go srv.Serve(ln)
	}
}

// Stop closes both listeners and every open connection.
func (s *Server) Stop() {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		srv.Close()
	}
}

// Add publishes a file under project (any spelling; it is normalized).
func (s *Server) Add(project string, f File) {
	sum := sha256.Sum256(f.Data)
	nf := &file{File: f, project: Normalize(project), sum: hex.EncodeToString(sum[:])}
	if f.Metadata != nil {
		ms := sha256.Sum256(f.Metadata)
		nf.mdSum = hex.EncodeToString(ms[:])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[nf.project] = append(s.projects[nf.project], nf)
	s.files[f.Name] = nf
}

// AddDist publishes the built distribution at path; a wheel gets its
// METADATA as PEP 658 metadata.
func (s *Server) AddDist(project, path, requiresPython string) {
	s.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	f := File{Name: filepath.Base(path), Data: data, RequiresPython: requiresPython}
	if strings.HasSuffix(f.Name, ".whl") {
		f.Metadata = wheelMetadata(s.t, data)
	}
	s.Add(project, f)
}

func wheelMetadata(t testing.TB, whl []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(whl), int64(len(whl)))
	if err != nil {
		t.Fatalf("pypitest: not a wheel: %v", err)
	}
	for _, zf := range zr.File {
		dir, name, _ := strings.Cut(zf.Name, "/")
		if name == "METADATA" && strings.HasSuffix(dir, ".dist-info") {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("pypitest: wheel without METADATA")
	return nil
}

// Tamper makes the files host send other bytes of the same length for
// filename (on), or the right ones again (off). "<file>.metadata" tampers
// with the file's core metadata.
func (s *Server) Tamper(filename string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if base, ok := strings.CutSuffix(filename, ".metadata"); ok {
		s.mustFile(base).mdTamper = on
		return
	}
	s.mustFile(filename).tampered = on
}

// SetStatus makes the project's page answer status (0: normally).
func (s *Server) SetStatus(project string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[Normalize(project)] = status
}

// Gets counts the requests for filename's bytes.
func (s *Server) Gets(filename string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustFile(filename).gets
}

// MetadataGets counts the requests for filename's .metadata.
func (s *Server) MetadataGets(filename string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustFile(filename).mdGets
}

// PageGets counts the requests for a project page (304s included).
func (s *Server) PageGets(project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pageGets[Normalize(project)]
}

// NotModified counts the 304 answers.
func (s *Server) NotModified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notMod
}

// SHA256 is the hex sha256 of filename's bytes.
func (s *Server) SHA256(filename string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustFile(filename).sum
}

func (s *Server) mustFile(name string) *file {
	f := s.files[name]
	if f == nil {
		s.t.Fatalf("pypitest: no file %s", name)
	}
	return f
}

// Normalize is PEP 503's name normalization.
func Normalize(name string) string {
	var b strings.Builder
	sep := false
	for _, c := range strings.ToLower(name) {
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	if s.opts.RelativeLinks && strings.HasPrefix(r.URL.Path, "/files/") {
		s.serveFiles(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/simple/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	json := !s.opts.HTMLOnly && strings.Contains(r.Header.Get("Accept"), "application/vnd.pypi.simple.v1+json")
	if rest == "" {
		s.writePage(w, r, json, []byte(`{"meta":{"api-version":"1.0"},"projects":[]}`), []byte("<!DOCTYPE html><html><body></body></html>"))
		return
	}
	project, tail, _ := strings.Cut(rest, "/")
	if tail != "" {
		http.NotFound(w, r)
		return
	}
	if n := Normalize(project); n != project {
		http.Redirect(w, r, "/simple/"+n+"/", http.StatusMovedPermanently)
		return
	}
	s.mu.Lock()
	s.pageGets[project]++
	status := s.status[project]
	files := append([]*file(nil), s.projects[project]...)
	s.mu.Unlock()
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	if len(files) == 0 {
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	s.writePage(w, r, json, s.renderJSON(project, files), s.renderHTML(project, files))
}

func (s *Server) writePage(w http.ResponseWriter, r *http.Request, isJSON bool, j, h []byte) {
	body, ctype := h, "text/html; charset=utf-8"
	if isJSON {
		body, ctype = j, "application/vnd.pypi.simple.v1+json"
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Content-Type", ctype)
	if r.Header.Get("If-None-Match") == etag {
		s.mu.Lock()
		s.notMod++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}

// link is where a file's bytes live: on the files host, or relative to the
// page.
func (s *Server) link(f *file) string {
	p := strings.TrimSuffix(filePath(f), f.Name) + strings.ReplaceAll(url.PathEscape(f.Name), "+", "%2B") // as PyPI writes local versions
	if s.opts.RelativeLinks {
		return "../.." + p
	}
	return "http://" + s.filesAddr + p
}

// filePath is the decoded URL path of a file's bytes.
func filePath(f *file) string { return "/files/" + f.sum[:2] + "/" + f.sum[2:4] + "/" + f.Name }

func (s *Server) renderHTML(project string, files []*file) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for %s</title></head>\n<body><h1>Links for %s</h1>\n", project, project)
	for _, f := range files {
		fmt.Fprintf(&b, `<a href="%s#sha256=%s"`, html.EscapeString(s.link(f)), f.sum)
		if f.RequiresPython != "" {
			fmt.Fprintf(&b, ` data-requires-python="%s"`, html.EscapeString(f.RequiresPython))
		}
		if f.Yanked != "" {
			fmt.Fprintf(&b, ` data-yanked="%s"`, html.EscapeString(f.Yanked))
		}
		if f.mdSum != "" {
			fmt.Fprintf(&b, ` data-dist-info-metadata="sha256=%s" data-core-metadata="sha256=%s"`, f.mdSum, f.mdSum)
		}
		fmt.Fprintf(&b, ">%s</a><br/>\n", html.EscapeString(f.Name))
	}
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

func (s *Server) renderJSON(project string, files []*file) []byte {
	type jf struct {
		Filename       string            `json:"filename"`
		URL            string            `json:"url"`
		Hashes         map[string]string `json:"hashes"`
		RequiresPython string            `json:"requires-python,omitempty"`
		Yanked         any               `json:"yanked"`
		CoreMetadata   any               `json:"core-metadata"`
		Size           int               `json:"size"`
		UploadTime     string            `json:"upload-time"`
	}
	out := struct {
		Meta     map[string]string `json:"meta"`
		Name     string            `json:"name"`
		Files    []jf              `json:"files"`
		Versions []string          `json:"versions"`
	}{Meta: map[string]string{"api-version": "1.1"}, Name: project, Versions: []string{}}
	versions := map[string]bool{}
	for _, f := range files {
		j := jf{Filename: f.Name, URL: s.link(f), Hashes: map[string]string{"sha256": f.sum}, RequiresPython: f.RequiresPython,
			Yanked: false, CoreMetadata: false, Size: len(f.Data), UploadTime: "2024-01-02T03:04:05.000000Z"}
		if f.Yanked != "" {
			j.Yanked = f.Yanked
		}
		if f.mdSum != "" {
			j.CoreMetadata = map[string]string{"sha256": f.mdSum}
		}
		out.Files = append(out.Files, j)
		if parts := strings.SplitN(f.Name, "-", 3); len(parts) >= 2 {
			versions[strings.TrimSuffix(parts[1], ".tar.gz")] = true
		}
	}
	for v := range versions {
		out.Versions = append(out.Versions, v)
	}
	sort.Strings(out.Versions)
	b, _ := json.Marshal(out)
	return b
}

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	base, isMeta := strings.CutSuffix(name, ".metadata")
	s.mu.Lock()
	f := s.files[base]
	var body []byte
	if f != nil && r.URL.Path == filePath(f)+strings.TrimPrefix(name, base) {
		switch {
		case isMeta && f.Metadata != nil:
			f.mdGets++
			body = f.Metadata
			if f.mdTamper {
				body = bytes.Clone(body)
				body[len(body)/2] ^= 0xff
			}
		case !isMeta:
			f.gets++
			body = f.Data
			if f.tampered {
				body = bytes.Clone(body)
				body[len(body)/2] ^= 0xff
			}
		}
	}
	s.mu.Unlock()
	if body == nil {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}
