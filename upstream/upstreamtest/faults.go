package upstreamtest

import (
	"context"
	"fmt"
	"io"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// fault serves a GET of one blob; it returns false to let the registry do it.
type fault func(w http.ResponseWriter, r *http.Request, d digest.Digest) bool

// SetHook installs h in front of the registry, after the token check: when
// h returns true it has answered the request. nil removes it.
func (g *Registry) SetHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hook = h
}

// ClearFaults removes the hook and every blob fault.
func (g *Registry) ClearFaults() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hook = nil
	clear(g.faults)
}

// CorruptBlob makes GETs of d answer with the right length and digest
// header but every byte inverted.
func (g *Registry) CorruptBlob(d digest.Digest) {
	g.blobFault(d, func(w http.ResponseWriter, body io.Reader, _ int64) {
		io.Copy(w, invert{body})
	})
}

// DieMidBlob makes GETs of d declare the full Content-Length, send the
// first `after` bytes and then drop the connection.
func (g *Registry) DieMidBlob(d digest.Digest, after int64) {
	g.blobFault(d, func(w http.ResponseWriter, body io.Reader, size int64) {
		io.CopyN(w, body, min(after, size))
		ctl := http.NewResponseController(w)
		ctl.Flush()
		conn, _, err := ctl.Hijack()
		if err != nil {
			panic(fmt.Sprintf("upstreamtest: cannot hijack: %v", err)) // HTTP/1 only, always
		}
		conn.Close()
	})
}

// blobFault makes GETs of d answer with the blob's headers, then lets send
// write (or break off) the body.
func (g *Registry) blobFault(d digest.Digest, send func(w http.ResponseWriter, body io.Reader, size int64)) {
	g.setFault(d, func(w http.ResponseWriter, r *http.Request, d digest.Digest) bool {
		rc, size, ok := g.openBlob(d)
		if !ok {
			return false
		}
		defer rc.Close()
		g.blobHeaders(w, d, size)
		send(w, rc, size)
		return true
	})
}

func (g *Registry) setFault(d digest.Digest, f fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults[d] = f
}

func (g *Registry) openBlob(d digest.Digest) (io.ReadCloser, int64, bool) {
	h, err := v1.NewHash(d.String())
	if err != nil {
		return nil, 0, false
	}
	size, err := g.blobs.Stat(context.Background(), "", h)
	if err != nil {
		return nil, 0, false
	}
	rc, err := g.blobs.Get(context.Background(), "", h)
	if err != nil {
		return nil, 0, false
	}
	return rc, size, true
}

func (g *Registry) blobHeaders(w http.ResponseWriter, d digest.Digest, size int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusOK)
}

type invert struct{ r io.Reader }

func (i invert) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	for k := range p[:n] {
		p[k] ^= 0xff
	}
	return n, err
}
