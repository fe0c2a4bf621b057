package npmtest

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Front is a reverse proxy on loopback in front of an upstream. It keeps
// the Host header, so a registry behind it writes tarball URLs that point
// at the Front too. It can corrupt responses and it can stop (connections
// refused) and start again on the same address.
type Front struct {
	URL string

	addr  string
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	srv     *http.Server
	corrupt []string // path suffixes whose 200 bodies are corrupted
	hits    map[string]int
}

// NewFront starts a Front for target. It stops with the test.
func NewFront(t testing.TB, target string) *Front {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &Front{addr: freeAddr(t), hits: map[string]int{}}
	f.URL = "http://" + f.addr
	f.proxy = httputil.NewSingleHostReverseProxy(u)
	f.proxy.ErrorLog = log.New(io.Discard, "", 0)
	f.proxy.ModifyResponse = f.modify
	f.Start(t)
	t.Cleanup(f.Stop)
	return f
}

func (f *Front) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.mu.Unlock()
	f.proxy.ServeHTTP(w, r)
}

func (f *Front) modify(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.corrupt {
		if strings.HasSuffix(resp.Request.URL.Path, s) {
			resp.Body = &inverter{rc: resp.Body}
		}
	}
	return nil
}

// inverter flips every byte after the first 16: same length, wrong bytes.
type inverter struct {
	rc  io.ReadCloser
	off int
}

func (v *inverter) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	for i := range n {
		if v.off+i >= 16 {
			p[i] ^= 0xff
		}
	}
	v.off += n
	return n, err
}

func (v *inverter) Close() error { return v.rc.Close() }

// Corrupt makes 200 bodies of paths ending in suffix wrong (same length).
func (f *Front) Corrupt(suffix string) {
	f.mu.Lock()
	f.corrupt = append(f.corrupt, suffix)
	f.mu.Unlock()
}

// ClearFaults ends every Corrupt.
func (f *Front) ClearFaults() {
	f.mu.Lock()
	f.corrupt = nil
	f.mu.Unlock()
}

// Hits counts the requests for exactly path.
func (f *Front) Hits(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// HitsPrefix counts the requests for paths that start with prefix.
func (f *Front) HitsPrefix(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for p, c := range f.hits {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// Stop closes the listener and every connection: the upstream is down.
func (f *Front) Stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start listens again on the same address.
func (f *Front) Start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", f.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("cannot listen on %s again: %v", f.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serveHTTP), ErrorLog: log.New(io.Discard, "", 0)}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}
