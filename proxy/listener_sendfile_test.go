package proxy

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/internal/units"
	"nora/proxy/httpx"
)

// serveFile starts a server whose /file answers the file of size bytes by
// sendfile, with the stall timeout given.
func serveFile(t *testing.T, stall time.Duration, size int64) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.StallTimeout = units.Duration(stall)
	return startServer(t, cfg, func(s *Server) {
		s.Handle("/file", "docker", func(ctx *fasthttp.RequestCtx) {
			f, err := os.Open(path)
			if err != nil {
				ctx.Error(err.Error(), 500)
				return
			}
			httpx.ServeContent(ctx, f, size, "")
		})
	})
}

// A file sent by sendfile to a slow reader that keeps reading (far more
// than stallChunk per stall window) takes longer than the stall timeout
// and is not cut: each window that moved enough starts the next.
func TestSendfileSlowReaderIsNotAStall(t *testing.T) {
	const size = 24 << 20
	ts := serveFile(t, time.Second, size)
	before := ts.ln.fileBytes.Load()
	if n, took := readSlowly(t, ts.url+"/file"); n != size || took < 1500*time.Millisecond {
		t.Fatalf("read %d bytes in %v", n, took) // ~12 MB/s at most: ~2 s in all
	}
	if sent := ts.ln.fileBytes.Load() - before; sent < size-16<<10 {
		t.Fatalf("%d of %d bytes by sendfile", sent, size)
	}
}

// A peer that stops reading a file response is dropped once a stall
// window passes with less than stallChunk sent in it.
func TestSendfileStallClosesConnection(t *testing.T) {
	const size = 256 << 20
	ts := serveFile(t, time.Second, size)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled response to end", func() bool {
		return strings.Contains(ts.logs.String(), `"path":"/file"`)
	})
	if logs := ts.logs.String(); !strings.Contains(logs, `"error":`) || !strings.Contains(logs, "timeout") {
		t.Fatalf("stalled response logged without a timeout error:\n%s", logs)
	}
	waitFor(t, "the connection to be dropped", func() bool {
		ts.ln.mu.Lock()
		defer ts.ln.mu.Unlock()
		return len(ts.ln.conns) == 0
	})
}
