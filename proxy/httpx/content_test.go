package httpx_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
)

func TestParseRange(t *testing.T) {
	f := func(header string, size, wantStart, wantLength int64, wantOK, wantErr bool) {
		t.Helper()
		start, length, ok, err := httpx.ParseRange([]byte(header), size)
		if start != wantStart || length != wantLength || ok != wantOK || (err != nil) != wantErr {
			t.Fatalf("ParseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, err=%v",
				header, size, start, length, ok, err, wantStart, wantLength, wantOK, wantErr)
		}
	}
	f("", 10, 0, 0, false, false)
	f("bytes=0-4", 10, 0, 5, true, false)
	f("bytes=2-2", 10, 2, 1, true, false)
	f("bytes=5-", 10, 5, 5, true, false)
	f("bytes=5-100", 10, 5, 5, true, false) // last clamped
	f("bytes=-3", 10, 7, 3, true, false)
	f("bytes=-30", 10, 0, 10, true, false) // suffix longer than object
	f("BYTES=1-2", 10, 1, 2, true, false)  // unit is case-insensitive
	f("bytes= 1-2 ", 10, 1, 2, true, false)
	f("bytes=9-9", 10, 9, 1, true, false)
	f("bytes=0-99999999999999999999999", 10, 0, 10, true, false) // saturates

	// Unsatisfiable: 416.
	f("bytes=10-", 10, 0, 0, false, true)
	f("bytes=10-20", 10, 0, 0, false, true)
	f("bytes=-0", 10, 0, 0, false, true)
	f("bytes=0-", 0, 0, 0, false, true)
	f("bytes=-1", 0, 0, 0, false, true)
	f("bytes=99999999999999999999999-", 10, 0, 0, false, true)

	// Not usable: serve the whole object.
	f("bytes=0-1,3-4", 10, 0, 0, false, false) // multi-range
	f("bytes=5-3", 10, 0, 0, false, false)     // last < first
	f("bytes=", 10, 0, 0, false, false)
	f("bytes=-", 10, 0, 0, false, false)
	f("bytes=a-b", 10, 0, 0, false, false)
	f("bytes=1", 10, 0, 0, false, false)
	f("bytes=+1-2", 10, 0, 0, false, false)
	f("bytes=1--2", 10, 0, 0, false, false)
	f("items=0-1", 10, 0, 0, false, false)
	f("bytes 0-1", 10, 0, 0, false, false)
	f("bytes=0-1", -1, 0, 0, false, false) // unknown size
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=5-", "bytes=-3", "bytes=0-1,2-3", "bytes=-0", "bytes=99999999999999999999-", "bytes= 3 - 4"} {
		f.Add([]byte(s), int64(10))
	}
	f.Fuzz(func(t *testing.T, header []byte, size int64) {
		start, length, ok, err := httpx.ParseRange(header, size)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if !ok {
			if start != 0 || length != 0 {
				t.Fatalf("not ok but %d, %d", start, length)
			}
			return
		}
		if start < 0 || start >= size || length < 1 || length > size-start {
			t.Fatalf("ParseRange(%q, %d) = [%d, +%d) outside [0, %d)", header, size, start, length, size)
		}
	})
}

// serve runs a plain fasthttp server with h on loopback.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, Logger: quiet{}} // cut responses are what some tests want
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// closeCounter counts Close calls of a body.
type closeCounter struct {
	io.ReadSeeker
	closed *atomic.Int32
}

func (c closeCounter) Close() error { c.closed.Add(1); return nil }

// readOnly hides Seek.
type readOnly struct {
	io.Reader
	closed *atomic.Int32
}

func (c readOnly) Close() error { c.closed.Add(1); return nil }

// sectioned hides Seek and serves ranges by Section, as a cache fill in
// progress does.
type sectioned struct {
	readOnly
	content string
}

func (s sectioned) Section(start, length int64) (io.Reader, error) {
	return strings.NewReader(s.content[start : start+length]), nil
}

func TestServeContent(t *testing.T) {
	const content = "0123456789abcdefghij"
	file := filepath.Join(t.TempDir(), "object")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var closed atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		size := int64(len(content))
		var body io.ReadCloser = closeCounter{strings.NewReader(content), &closed}
		switch string(ctx.Path()) {
		case "/file":
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			body = f
		case "/noseek":
			body = readOnly{strings.NewReader(content), &closed}
		case "/section":
			body = sectioned{readOnly{strings.NewReader(content), &closed}, content}
		case "/unknown":
			size = -1
		case "/etag":
			ctx.Response.Header.Set("ETag", `"v1"`)
		}
		httpx.ServeContent(ctx, body, size, string(ctx.QueryArgs().Peek("type")))
	})

	f := func(method, path string, hdr map[string]string, wantStatus int, wantBody string, wantHdr map[string]string) {
		t.Helper()
		closed.Store(0)
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantStatus || string(b) != wantBody {
			t.Fatalf("%s %s %v: %d %q, want %d %q", method, path, hdr, resp.StatusCode, b, wantStatus, wantBody)
		}
		for k, v := range wantHdr {
			if got := resp.Header.Get(k); got != v {
				t.Fatalf("%s %s %v: header %s = %q, want %q", method, path, hdr, k, got, v)
			}
		}
		if path != "/file" {
			deadline := time.Now().Add(5 * time.Second)
			for closed.Load() != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("%s %s: body closed %d times, want 1", method, path, closed.Load())
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	none := map[string]string{}
	f("GET", "/", nil, 200, content, map[string]string{
		"Content-Length": "20", "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"})
	f("GET", "/?type=application/json", nil, 200, content, map[string]string{"Content-Type": "application/json"})
	f("GET", "/", map[string]string{"Range": "bytes=2-5"}, 206, "2345", map[string]string{
		"Content-Length": "4", "Content-Range": "bytes 2-5/20"})
	f("GET", "/", map[string]string{"Range": "bytes=-3"}, 206, "hij", map[string]string{"Content-Range": "bytes 17-19/20"})
	f("GET", "/", map[string]string{"Range": "bytes=15-"}, 206, "fghij", nil)
	f("GET", "/", map[string]string{"Range": "bytes=20-"}, 416, "", map[string]string{"Content-Range": "bytes */20"})
	f("GET", "/", map[string]string{"Range": "bytes=0-1,4-5"}, 200, content, nil)
	f("GET", "/", map[string]string{"Range": "bytes=x"}, 200, content, nil)
	f("HEAD", "/", nil, 200, "", map[string]string{"Content-Length": "20", "Accept-Ranges": "bytes"})
	f("HEAD", "/", map[string]string{"Range": "bytes=0-9"}, 206, "", map[string]string{
		"Content-Length": "10", "Content-Range": "bytes 0-9/20"})
	f("GET", "/noseek", map[string]string{"Range": "bytes=2-5"}, 200, content, map[string]string{"Accept-Ranges": ""})
	f("GET", "/section", map[string]string{"Range": "bytes=2-5"}, 206, "2345", map[string]string{
		"Accept-Ranges": "bytes", "Content-Range": "bytes 2-5/20"})
	f("GET", "/section", nil, 200, content, map[string]string{"Accept-Ranges": "bytes"})
	f("GET", "/unknown", map[string]string{"Range": "bytes=2-5"}, 200, content, map[string]string{
		"Content-Length": "", "Accept-Ranges": ""})
	f("HEAD", "/unknown", nil, 200, "", map[string]string{"Content-Length": ""})
	f("GET", "/etag", map[string]string{"Range": "bytes=0-1", "If-Range": `"v1"`}, 206, "01", nil)
	f("GET", "/etag", map[string]string{"Range": "bytes=0-1", "If-Range": `"v0"`}, 200, content, nil)
	f("GET", "/", map[string]string{"Range": "bytes=0-1", "If-Range": `"v1"`}, 200, content, none)
	f("GET", "/file", nil, 200, content, nil)
	f("GET", "/file", map[string]string{"Range": "bytes=10-12"}, 206, "abc", nil)
}

// failingReader yields n bytes of 'x', then an error.
type failingReader struct {
	n        int
	withData bool // return the error together with the last bytes
}

var errBroken = errors.New("upstream broke off")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBroken
	}
	m := min(len(p), r.n)
	for i := range m {
		p[i] = 'x'
	}
	r.n -= m
	if r.n == 0 && r.withData {
		// The data and the error at once; a later Read says EOF, as a
		// careless reader might.
		r.n = -1
		return m, errBroken
	}
	return m, nil
}

// TestBrokenBodyCutsConnection proves that a body whose Read fails before
// its end never looks complete to the client: with a known size the
// connection closes short of Content-Length, chunked it closes without the
// terminating zero-length chunk.
func TestBrokenBodyCutsConnection(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		q := ctx.QueryArgs()
		r := &failingReader{n: 10000, withData: q.Has("withdata")}
		var body io.Reader = r
		if r.withData {
			body = eofAfterError{r}
		}
		size := int64(20000)
		if q.Has("chunked") {
			size = -1
		}
		if q.Has("bare") {
			ctx.SetBodyStream(body, int(size))
		} else {
			httpx.SetBodyStream(ctx, body, size)
		}
	})
	f := func(query string, chunked bool) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /?"+query+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(c) // until the server closes
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("%s: response read cleanly (%d bytes); want a truncated one", query, len(b))
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: %v, want unexpected EOF", query, err)
		}
		if chunked != (resp.ContentLength == -1) {
			t.Fatalf("%s: Content-Length %d", query, resp.ContentLength)
		}
		if bytes.HasSuffix(raw, []byte("0\r\n\r\n")) {
			t.Fatalf("%s: terminating chunk sent", query)
		}
	}
	f("bare", false)
	f("bare&chunked", true)
	f("", false)
	f("chunked", true)
	f("chunked&withdata", true)
	f("withdata", false)
}

// eofAfterError reports EOF after the error came with data: fasthttp's
// chunked writer alone would drop that error and end the body cleanly.
type eofAfterError struct{ r *failingReader }

func (e eofAfterError) Read(p []byte) (int, error) {
	if e.r.n < 0 {
		return 0, io.EOF
	}
	return e.r.Read(p)
}
