package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"nora/internal/units"
	"nora/proxy/httpx"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond for up to 10 s: generous, so slow CI machines pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testServer struct {
	*Server
	url  string
	addr string
	logs *syncBuffer
	ln   *stallListener
}

// startServer serves s's routes on loopback; setup runs before Serve.
func startServer(t *testing.T, cfg Config, setup func(s *Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	s := NewServer(cfg, slog.New(slog.NewJSONHandler(logs, nil)), metrics.NewSet())
	s.ready.every = 20 * time.Millisecond
	if setup != nil {
		setup(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	waitFor(t, "Serve", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.lns) == 1
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	s.mu.Lock()
	sl := s.lns[0]
	s.mu.Unlock()
	return &testServer{Server: s, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), logs: logs, ln: sl}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	return cfg
}

// get does one request on a fresh connection and returns status, body and
// headers.
func get(t *testing.T, method, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func say(s string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(s) }
}

func TestRouting(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/v2/", "docker", say("docker"))
		s.Handle("/v2/special/", "special", say("special"))
		s.Handle("/npm/", "npm", say("npm"))
		s.Handle("/", "root", say("root"))
	})
	f := func(path string, wantStatus int, wantBody string) {
		t.Helper()
		status, body, _ := get(t, "GET", ts.url+path)
		if status != wantStatus || body != wantBody {
			t.Fatalf("GET %s: %d %q, want %d %q", path, status, body, wantStatus, wantBody)
		}
	}
	f("/v2/", 200, "docker")
	f("/v2/library/nginx/manifests/latest", 200, "docker")
	f("/v2/special/x", 200, "special")
	f("/v2/specialx", 200, "docker")
	f("/npm/react", 200, "npm")
	f("/elsewhere", 200, "root")
	f("/health", 200, "ok\n") // built-ins win over "/"

	ts2 := startServer(t, testConfig(), func(s *Server) { s.Handle("/v2/", "docker", say("docker")) })
	status, body, hdr := get(t, "GET", ts2.url+"/nothing")
	if status != 404 || !strings.Contains(body, "not found") || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("unknown path: %d %q %q", status, body, hdr.Get("Content-Type"))
	}
}

func TestRequestID(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/", "x", func(ctx *fasthttp.RequestCtx) { ctx.Error("nope", 403) }) // Error resets headers
	})
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)
	f := func(in string, echoed bool) {
		t.Helper()
		var hdr []string
		if in != "" {
			hdr = []string{"X-Request-Id", in}
		}
		_, _, h := get(t, "GET", ts.url+"/", hdr...)
		got := h.Get("X-Request-Id")
		if echoed && got != in || !echoed && !generated.MatchString(got) {
			t.Fatalf("X-Request-Id %q -> %q (echo %v)", in, got, echoed)
		}
		if !strings.Contains(ts.logs.String(), `"request_id":"`+got+`"`) {
			t.Fatalf("request id %q not in the access log", got)
		}
	}
	f("", false)
	f("abc-123_X.y", true)
	f(strings.Repeat("a", 128), true)
	f(strings.Repeat("a", 129), false)
	f("has space", false)
	f("quote\"", false)
	f("semi;colon", false)
}

func TestHealthAndReady(t *testing.T) {
	var storageOK atomic.Bool
	var runs, infoRuns atomic.Int32
	ts := startServer(t, testConfig(), func(s *Server) {
		s.AddReadyCheck("storage", func(ctx context.Context) error {
			runs.Add(1)
			if !storageOK.Load() {
				return errors.New("cannot stat data dir")
			}
			return nil
		})
		s.AddReadyInfo("upstreams", func(context.Context) (any, error) {
			infoRuns.Add(1)
			return []map[string]string{{"name": "hub", "breaker": "open"}}, nil
		})
		s.AddReadyInfo("broken", func(context.Context) (any, error) { return nil, errors.New("cannot tell") })
	})
	status, body, _ := get(t, "GET", ts.url+"/health")
	if status != 200 || body != "ok\n" {
		t.Fatalf("/health: %d %q", status, body)
	}
	waitFor(t, "a check run", func() bool { return runs.Load() > 0 })
	n := runs.Load()
	var v struct {
		Status    string              `json:"status"`
		Failing   map[string]string   `json:"failing"`
		CheckedAt time.Time           `json:"checked_at"`
		Upstreams []map[string]string `json:"upstreams"`
		Broken    map[string]string   `json:"broken"`
	}
	ready := func() int {
		t.Helper()
		status, body, hdr := get(t, "GET", ts.url+"/ready")
		if hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("/ready Content-Type %q", hdr.Get("Content-Type"))
		}
		v.Failing, v.Upstreams, v.Broken = nil, nil, nil
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/ready: %v: %s", err, body)
		}
		return status
	}
	if status := ready(); status != 503 || v.Status != "unavailable" || v.Failing["storage"] != "cannot stat data dir" {
		t.Fatalf("/ready while failing: %d %+v", status, v)
	}
	storageOK.Store(true)
	waitFor(t, "/ready to pass", func() bool { return ready() == 200 })
	// An open breaker is reported and does not gate; a failing info neither.
	if v.Status != "ready" || v.Failing != nil || v.CheckedAt.IsZero() ||
		len(v.Upstreams) != 1 || v.Upstreams[0]["breaker"] != "open" || v.Broken["error"] != "cannot tell" {
		t.Fatalf("/ready: %+v", v)
	}
	if runs.Load()-n > 1000 || infoRuns.Load() > runs.Load()+1 {
		t.Fatal("checks seem to run per probe")
	}

	// A check added while serving is failing until its first run ends; it
	// blocks until released, so no round can pass it before we look.
	release := make(chan struct{})
	ts.AddReadyCheck("upstream", func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if a := ts.ready.answer.Load(); a.status != 503 || !strings.Contains(string(a.body), `"upstream":"not checked yet"`) {
		t.Fatalf("new check: %d %s", a.status, a.body)
	}
	close(release)
	waitFor(t, "/ready to pass again", func() bool { return ts.ready.answer.Load().status == 200 })
}

func TestMetrics(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/v2/", "docker", say("hello"))
	})
	get(t, "GET", ts.url+"/v2/")
	get(t, "HEAD", ts.url+"/v2/")
	get(t, "OPTIONS", ts.url+"/v2/")
	get(t, "GET", ts.url+"/nothing")
	_, body, _ := get(t, "GET", ts.url+"/metrics")
	for _, want := range []string{
		`nora_http_requests_total{format="docker",method="GET",status="2xx"} 1`,
		`nora_http_requests_total{format="docker",method="HEAD",status="2xx"} 1`,
		`nora_http_requests_total{format="docker",method="other",status="2xx"} 1`,
		`nora_http_requests_total{format="none",method="GET",status="4xx"} 1`,
		`nora_http_request_duration_seconds_bucket{format="docker",le="+Inf"} 3`,
		`nora_http_request_duration_seconds_count{format="docker"} 3`,
		`nora_http_response_bytes_total{format="docker"} 10`, // HEAD sends no body
		`nora_http_requests_in_flight 1`,                     // this scrape
		`process_cpu_seconds_total`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

func TestHeaderTooLarge(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeaderBytes = 4096
	ts := startServer(t, cfg, func(s *Server) { s.Handle("/", "x", say("x")) })
	status, _, h := get(t, "GET", ts.url+"/", "X-Big", strings.Repeat("b", 8000))
	if status != 431 || h.Get("X-Request-Id") == "" {
		t.Fatalf("big header: %d, id %q", status, h.Get("X-Request-Id"))
	}
	if status, _, _ := get(t, "GET", ts.url+"/", "X-Small", strings.Repeat("b", 1000)); status != 200 {
		t.Fatalf("small header: %d", status)
	}
	waitFor(t, "the 431 logged", func() bool { return strings.Contains(ts.logs.String(), `"status":431`) })
}

func TestAccessLog(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/v2/", "docker", func(ctx *fasthttp.RequestCtx) {
			httpx.SetLogInfo(ctx, "docker.io/library/nginx", "hit")
			httpx.ServeContent(ctx, io.NopCloser(strings.NewReader("0123456789")), 10, "")
		})
		s.Handle("/bare/", "bare", func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyStream(strings.NewReader("abc"), 3)
		})
	})
	get(t, "GET", ts.url+"/v2/library/nginx/blobs/sha256:x?token=s3cret&n=5&Access_Token=s3cret&pass%77ord=s3cret",
		"Authorization", "Bearer s3cret", "Cookie", "session=s3cret", "User-Agent", "docker/27")
	get(t, "GET", ts.url+"/bare/x")
	var docker, bare string
	waitFor(t, "two access lines", func() bool {
		docker, bare = "", ""
		for _, l := range strings.Split(ts.logs.String(), "\n") {
			switch {
			case strings.Contains(l, `"format":"docker"`):
				docker = l
			case strings.Contains(l, `"format":"bare"`):
				bare = l
			}
		}
		return docker != "" && bare != ""
	})
	for _, want := range []string{
		`"msg":"request"`, `"method":"GET"`,
		`"path":"/v2/library/nginx/blobs/sha256:x?token=REDACTED&n=5&Access_Token=REDACTED&pass%77ord=REDACTED"`,
		`"repository":"docker.io/library/nginx"`, `"cache":"hit"`, `"status":200`, `"bytes":10`,
		`"duration_ms":`, `"remote":"127.0.0.1:`, `"user_agent":"docker/27"`,
	} {
		if !strings.Contains(docker, want) {
			t.Fatalf("access line lacks %s:\n%s", want, docker)
		}
	}
	if strings.Contains(ts.logs.String(), "s3cret") {
		t.Fatalf("a secret reached the log:\n%s", ts.logs.String())
	}
	if !strings.Contains(bare, `"bytes":3`) {
		t.Fatalf("bare stream line: %s", bare)
	}
}

func TestRedactQuery(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := redactQuery([]byte(in)); got != want {
			t.Fatalf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
	f("n=5&last=abc", "n=5&last=abc")
	f("token=x", "token=REDACTED")
	f("a=1&access_token=x&refresh_token=y", "a=1&access_token=REDACTED&refresh_token=REDACTED")
	f("password=x&PASSWD=y&client_secret=z", "password=REDACTED&PASSWD=REDACTED&client_secret=REDACTED")
	f("X-Amz-Signature=x&X-Amz-Credential=y&key=z", "X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&key=REDACTED")
	f("tok%65n=x", "tok%65n=REDACTED")
	f("token", "token")
	f("ns=ghcr.io&scope=repository:a:pull", "ns=ghcr.io&scope=repository:a:pull")
	f("&&", "&&")
}

func TestPanic(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/boom", "x", func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyStream(io.NopCloser(strings.NewReader("half")), 4)
			panic("boom")
		})
	})
	status, body, h := get(t, "GET", ts.url+"/boom", "X-Request-Id", "panic-1")
	if status != 500 || body != "internal server error\n" || h.Get("X-Request-Id") != "panic-1" {
		t.Fatalf("panic: %d %q %q", status, body, h.Get("X-Request-Id"))
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, `"msg":"handler panic","request_id":"panic-1","panic":"boom"`) ||
		!strings.Contains(logs, `"status":500`) {
		t.Fatalf("logs:\n%s", logs)
	}
	if status, _, _ := get(t, "GET", ts.url+"/health"); status != 200 {
		t.Fatal("server did not survive the panic")
	}
}

func TestTwoServers(t *testing.T) {
	a := startServer(t, testConfig(), func(s *Server) { s.Handle("/", "a", say("a")) })
	b := startServer(t, testConfig(), func(s *Server) { s.Handle("/", "b", say("b")) })
	for _, ts := range []*testServer{a, b, a} {
		get(t, "GET", ts.url+"/x")
	}
	_, am, _ := get(t, "GET", a.url+"/metrics")
	_, bm, _ := get(t, "GET", b.url+"/metrics")
	if !strings.Contains(am, `{format="a",method="GET",status="2xx"} 2`) || strings.Contains(am, `format="b"`) ||
		!strings.Contains(bm, `{format="b",method="GET",status="2xx"} 1`) {
		t.Fatalf("metrics mixed up:\n%s\n%s", am, bm)
	}
}

// slowReader yields n bytes of 'x', sleeping before each of them in chunks.
type slowReader struct {
	n     int
	delay time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.delay)
	m := min(len(p), r.n, 1000)
	for i := range m {
		p[i] = 'x'
	}
	r.n -= m
	return m, nil
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/slow", "x", func(ctx *fasthttp.RequestCtx) {
			started <- struct{}{}
			time.Sleep(200 * time.Millisecond) // a handler still working
			httpx.SetBodyStream(ctx, &slowReader{n: 5000, delay: 50 * time.Millisecond}, 5000)
		})
	})
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(ts.url + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != strings.Repeat("x", 5000) {
		t.Fatalf("in-flight response: %d, %d bytes, %v", r.status, len(r.body), r.err)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// blockingReader blocks until release is closed.
type blockingReader struct{ release chan struct{} }

func (r blockingReader) Read(p []byte) (int, error) {
	<-r.release
	return 0, io.EOF
}

func TestShutdownDeadlineClosesConnections(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/stuck", "x", func(ctx *fasthttp.RequestCtx) {
			started <- struct{}{}
			ctx.Response.ImmediateHeaderFlush = true
			httpx.SetBodyStream(ctx, blockingReader{release}, 100)
		})
	})
	resp, err := http.Get(ts.url + "/stuck")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("client read: %v, want unexpected EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed after the Shutdown deadline")
	}
}

// endless is a large generated body.
type endless struct{ n int64 }

func (r *endless) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	m := int(min(int64(len(p)), r.n))
	clear(p[:m])
	r.n -= int64(m)
	return m, nil
}

func TestStallClosesConnection(t *testing.T) {
	cfg := testConfig()
	cfg.StallTimeout = units.Duration(time.Second)
	const size = 1 << 30
	ts := startServer(t, cfg, func(s *Server) {
		s.Handle("/big", "x", func(ctx *fasthttp.RequestCtx) {
			httpx.SetBodyStream(ctx, &endless{size}, size)
		})
	})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client never reads: once the socket buffers are full the server
	// makes no progress and must give up after the stall timeout.
	start := time.Now()
	waitFor(t, "the stalled response to end", func() bool {
		return strings.Contains(ts.logs.String(), `"path":"/big"`)
	})
	logs := ts.logs.String()
	if !strings.Contains(logs, `"error":`) || !strings.Contains(logs, "timeout") {
		t.Fatalf("stalled response logged without a timeout error:\n%s", logs)
	}
	t.Logf("stall detected after %v", time.Since(start))
	waitFor(t, "the connection to be dropped", func() bool {
		ts.ln.mu.Lock()
		defer ts.ln.mu.Unlock()
		return len(ts.ln.conns) == 0
	})
}

// A slow reader that keeps reading is not a stall: a response may take far
// longer than StallTimeout.
func TestSlowReaderIsNotAStall(t *testing.T) {
	cfg := testConfig()
	cfg.StallTimeout = units.Duration(time.Second)
	const size = 20 << 20
	ts := startServer(t, cfg, func(s *Server) {
		s.Handle("/big", "x", func(ctx *fasthttp.RequestCtx) {
			httpx.SetBodyStream(ctx, &endless{size}, size)
		})
	})
	if n, took := readSlowly(t, ts.url+"/big"); n != size || took < time.Duration(cfg.StallTimeout) {
		t.Fatalf("read %d bytes in %v", n, took) // ~12 MB/s at most: > 1.6 s in total
	}
}

// readSlowly GETs url and reads the body 256 KiB at a time with a pause
// of 20 ms after each (~12 MB/s at most), and returns the bytes read and
// how long they took.
func readSlowly(t *testing.T, url string) (int64, time.Duration) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int64
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, time.Since(start)
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSendfile(t *testing.T) {
	const size = 8<<20 + 123
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/blob", "docker", func(ctx *fasthttp.RequestCtx) {
			f, err := os.Open(path)
			if err != nil {
				ctx.Error(err.Error(), 500)
				return
			}
			httpx.ServeContent(ctx, f, size, "")
		})
		s.Handle("/bare", "docker", func(ctx *fasthttp.RequestCtx) {
			f, err := os.Open(path)
			if err != nil {
				ctx.Error(err.Error(), 500)
				return
			}
			ctx.SetBodyStream(f, size)
		})
	})
	f := func(path string, want []byte, hdr ...string) {
		t.Helper()
		before := ts.ln.fileBytes.Load()
		_, body, _ := get(t, "GET", ts.url+path, hdr...)
		if sha256.Sum256([]byte(body)) != sha256.Sum256(want) {
			t.Fatalf("GET %s %v: %d bytes, wrong content", path, hdr, len(body))
		}
		// Up to a few KiB may go through the write buffer with the headers.
		if sent := ts.ln.fileBytes.Load() - before; sent < int64(len(want))-16<<10 {
			t.Fatalf("GET %s %v: %d of %d bytes by sendfile", path, hdr, sent, len(want))
		}
	}
	f("/blob", data)
	f("/blob", data[1000:5<<20], "Range", fmt.Sprintf("bytes=1000-%d", 5<<20-1))
	f("/blob", data[size-3<<20:], "Range", "bytes=-3145728")
	f("/bare", data)
	waitFor(t, "access lines", func() bool {
		return strings.Count(ts.logs.String(), fmt.Sprintf(`"bytes":%d`, size)) == 2
	})
}

// An upload that keeps moving may take longer than ReadTimeout, which bounds
// the headers only; a stalled one is cut after StallTimeout.
func TestUploadBoundedByStallNotReadTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.ReadTimeout = units.Duration(300 * time.Millisecond)
	cfg.StallTimeout = units.Duration(1200 * time.Millisecond)
	ts := startServer(t, cfg, func(s *Server) {
		s.Handle("/upload", "x", func(ctx *fasthttp.RequestCtx) {
			n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
			if err != nil {
				ctx.Error(err.Error(), 400)
				return
			}
			ctx.SetBodyString(fmt.Sprint(n))
		})
	})
	const chunks, chunk = 10, 100 << 10
	f := func(pause time.Duration, wantOK bool) {
		t.Helper()
		pr, pw := io.Pipe()
		go func() {
			buf := make([]byte, chunk)
			for range chunks {
				if _, err := pw.Write(buf); err != nil {
					return
				}
				time.Sleep(pause)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("PUT", ts.url+"/upload", pr)
		req.ContentLength = chunks * chunk
		resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
		ok := err == nil && resp.StatusCode == 200
		var body []byte
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if ok != wantOK || ok && string(body) != fmt.Sprint(chunks*chunk) {
			t.Fatalf("pause %v: ok=%v (%v %s), want %v", pause, ok, err, body, wantOK)
		}
	}
	f(100*time.Millisecond, true) // ~1 s in total, 3x ReadTimeout
	f(3*time.Second, false)       // a pause longer than StallTimeout
}

// pacedReader yields n bytes in pieces of piece bytes, pausing before each.
type pacedReader struct {
	n, piece int
	pause    time.Duration
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	m := min(len(p), r.n, r.piece)
	clear(p[:m])
	r.n -= m
	return m, nil
}

// A source slower than StallTimeout per MiB (a fill waiting for a slow
// upstream) with a client that keeps up is not a stall either.
func TestSlowSourceIsNotAStall(t *testing.T) {
	cfg := testConfig()
	cfg.StallTimeout = units.Duration(time.Second)
	const size = 3 << 19
	ts := startServer(t, cfg, func(s *Server) {
		s.Handle("/fill", "x", func(ctx *fasthttp.RequestCtx) {
			// 1.6 s per MiB, each piece well within the stall timeout.
			httpx.SetBodyStream(ctx, &pacedReader{n: size, piece: 64 << 10, pause: 100 * time.Millisecond}, size)
		})
	})
	_, body, _ := get(t, "GET", ts.url+"/fill")
	if len(body) != size {
		t.Fatalf("got %d of %d bytes", len(body), size)
	}
}

// rawConn opens a connection to addr and writes head (a request line and
// headers, "\r\n\r\n" included) and body.
func rawConn(t *testing.T, addr, head string, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(append([]byte(head), body...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the response on c, waiting at most 20 s (generous).
func answer(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// post starts a POST with Content-Length size and sends the first sent
// bytes of its body.
func post(t *testing.T, addr, path string, size, sent int) net.Conn {
	t.Helper()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: nora.test\r\nContent-Length: %d\r\n\r\n", path, size)
	return rawConn(t, addr, head, make([]byte, sent))
}

// bodyRoutes are a handler that streams the body (/stream) and one that
// reads it into memory with httpx.ReadBody (/buffered); both answer the
// length read or the error.
func bodyRoutes(entered *atomic.Int32) func(s *Server) {
	return func(s *Server) {
		s.Handle("/stream", "x", func(ctx *fasthttp.RequestCtx) {
			if entered != nil {
				entered.Add(1)
			}
			n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				ctx.Error(err.Error(), fasthttp.StatusRequestTimeout)
			case err != nil:
				ctx.Error(err.Error(), fasthttp.StatusBadRequest)
			default:
				ctx.SetBodyString(fmt.Sprint(n))
			}
		})
		s.Handle("/buffered", "x", func(ctx *fasthttp.RequestCtx) {
			b, err := httpx.ReadBody(ctx, 1<<20)
			if err != nil {
				ctx.Error(err.Error(), httpx.BodyStatus(err))
				return
			}
			ctx.SetBodyString(fmt.Sprint(len(b)))
		})
	}
}

// A Host that is not host[:port] never reaches a handler, which could
// write it into a link or a WWW-Authenticate challenge.
func TestBadHost(t *testing.T) {
	ts := startServer(t, testConfig(), func(s *Server) {
		s.Handle("/", "x", func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.Host()) })
	})
	f := func(target, host string, want int) {
		t.Helper()
		resp, body := answer(t, rawConn(t, ts.addr, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", nil))
		if resp.StatusCode != want || want == 200 && target == "/x" && !strings.EqualFold(body, host) {
			t.Fatalf("GET %s Host %q: %d %q, want %d", target, host, resp.StatusCode, body, want)
		}
	}
	for _, h := range []string{"nora.local", "nora.local:4000", "NORA.example.com.", "10.0.0.1:80", "[::1]:4000", "[fe80::1]", "my_registry"} {
		f("/x", h, 200)
		f("/health", h, 200)
	}
	for _, h := range []string{`evil.example",service="x`, "a b", "a,b", "nora.local:99999", "nora.local:", "nora.local:x",
		"[::1%eth0]", "::1", "a..b", "-a.b", "a\\b", "a'b", "user@host", "[1.2.3.4]", "a;b"} {
		f("/x", h, 400)
		f("/health", h, 400)
	}
	// An absolute-form target's host is the one links would use.
	f(`http://evil"x/x`, "nora.local", 400)
	f("http://nora.local/x", "nora.local", 200)
	// HTTP/1.0 without Host: nothing to inject.
	if resp, _ := answer(t, rawConn(t, ts.addr, "GET /x HTTP/1.0\r\n\r\n", nil)); resp.StatusCode != 200 {
		t.Fatalf("HTTP/1.0 without Host: %d", resp.StatusCode)
	}
}

// A client that goes away before its Content-Length ends (or before the
// last chunk) gets its body refused, whether the handler streams it or
// reads it into memory: fasthttp alone reports a clean io.EOF.
func TestTruncatedBody(t *testing.T) {
	ts := startServer(t, testConfig(), bodyRoutes(nil))
	f := func(path, head string, body []byte, want int) {
		t.Helper()
		c := rawConn(t, ts.addr, head, body)
		c.(*net.TCPConn).CloseWrite()
		resp, msg := answer(t, c)
		if resp.StatusCode != want {
			t.Fatalf("%s %q: %d %s, want %d", path, head, resp.StatusCode, msg, want)
		}
	}
	for _, path := range []string{"/stream", "/buffered"} {
		// Beyond the 8 KiB that fasthttp reads before the handler runs.
		f(path, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n", make([]byte, 65535), 400)
		f(path, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", make([]byte, 99), 400)
		f(path, "POST "+path+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", []byte("5\r\nhello\r\n"), 400)
		f(path, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n", make([]byte, 65536), 200)
		f(path, "POST "+path+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", []byte("5\r\nhello\r\n0\r\n\r\n"), 200)
	}
}

// trickle writes a byte every pause on c until the server answers or
// closes, and returns the answer.
func trickle(t *testing.T, c net.Conn, pause time.Duration) (*http.Response, string) {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(pause):
			}
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	return answer(t, c)
}

// A body that keeps trickling resets any stall timer; the minimum rate
// cuts it, on every route, while a body that moves passes.
func TestSlowBodyCutByRate(t *testing.T) {
	cfg := testConfig()
	cfg.BodyMinRate = 1 << 10
	cfg.BodyGrace = units.Duration(500 * time.Millisecond)
	cfg.BufferedBodyTimeout = 0
	ts := startServer(t, cfg, bodyRoutes(nil))
	for _, path := range []string{"/stream", "/buffered"} {
		resp, msg := trickle(t, post(t, ts.addr, path, 1<<20, 16<<10), 50*time.Millisecond)
		if resp.StatusCode != fasthttp.StatusRequestTimeout || !strings.Contains(msg, "slower than 1024 bytes/s") {
			t.Fatalf("%s trickled: %d %s", path, resp.StatusCode, msg)
		}
		if resp, msg := answer(t, post(t, ts.addr, path, 1<<20, 1<<20)); resp.StatusCode != 200 || msg != fmt.Sprint(1<<20) {
			t.Fatalf("%s whole: %d %s", path, resp.StatusCode, msg)
		}
	}
}

// A body read into memory must arrive within BufferedBodyTimeout, however
// steadily it trickles; a streamed one is not bound by it.
func TestBufferedBodyDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.BodyMinRate = 0
	cfg.BufferedBodyTimeout = units.Duration(500 * time.Millisecond)
	ts := startServer(t, cfg, bodyRoutes(nil))
	resp, msg := trickle(t, post(t, ts.addr, "/buffered", 1<<20, 16<<10), 20*time.Millisecond)
	if resp.StatusCode != fasthttp.StatusRequestTimeout || !strings.Contains(msg, "within its deadline") {
		t.Fatalf("trickled: %d %s", resp.StatusCode, msg)
	}
	// Streamed: a second of trickling, then the rest.
	c := post(t, ts.addr, "/stream", 1<<20, 16<<10)
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		c.Write([]byte{'x'})
	}
	c.Write(make([]byte, 1<<20-16<<10-10))
	if resp, msg := answer(t, c); resp.StatusCode != 200 {
		t.Fatalf("streamed: %d %s", resp.StatusCode, msg)
	}
}

// Only MaxBufferedBodies bodies are read into memory at once; the next is
// refused at once with 503 and Retry-After, and /health still answers.
func TestBufferedBodySlots(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBufferedBodies = 2
	cfg.BodyGrace = units.Duration(5 * time.Minute)
	cfg.BufferedBodyTimeout = units.Duration(5 * time.Minute)
	ts := startServer(t, cfg, bodyRoutes(nil))
	const size = 64 << 10
	held := []net.Conn{post(t, ts.addr, "/buffered", size, size/2), post(t, ts.addr, "/buffered", size, size/2)}
	var resp *http.Response
	waitFor(t, "a 503", func() bool {
		resp, _ = answer(t, post(t, ts.addr, "/buffered", size, size))
		return resp.StatusCode == fasthttp.StatusServiceUnavailable
	})
	if resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("503 without Retry-After or Connection: close: %v", resp.Header)
	}
	if status, _, _ := get(t, "GET", ts.url+"/health"); status != 200 {
		t.Fatalf("/health: %d", status)
	}
	// A streamed body needs no slot.
	if resp, msg := answer(t, post(t, ts.addr, "/stream", size, size)); resp.StatusCode != 200 {
		t.Fatalf("streamed: %d %s", resp.StatusCode, msg)
	}
	held[0].Write(make([]byte, size/2))
	if resp, msg := answer(t, held[0]); resp.StatusCode != 200 || msg != fmt.Sprint(size) {
		t.Fatalf("held body, completed: %d %s", resp.StatusCode, msg)
	}
	if resp, msg := answer(t, post(t, ts.addr, "/buffered", size, size)); resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %d %s", resp.StatusCode, msg)
	}
}

// A body read whole gives its slot to the next while its handler goes on
// (a durable commit): slots count bodies being received.
func TestBufferedBodySlotFreedOnceRead(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBufferedBodies = 1
	release, read := make(chan struct{}), make(chan struct{})
	ts := startServer(t, cfg, func(s *Server) {
		bodyRoutes(nil)(s)
		s.Handle("/committing", "x", func(ctx *fasthttp.RequestCtx) {
			b, err := httpx.ReadBody(ctx, 1<<20)
			if err != nil {
				ctx.Error(err.Error(), httpx.BodyStatus(err))
				return
			}
			close(read)
			<-release // storing it
			ctx.SetBodyString(fmt.Sprint(len(b)))
		})
	})
	const size = 16 << 10
	committing := post(t, ts.addr, "/committing", size, size)
	<-read
	resp, msg := answer(t, post(t, ts.addr, "/buffered", size, size))
	close(release)
	if resp.StatusCode != 200 {
		t.Fatalf("a body while another one read whole is being stored: %d %s", resp.StatusCode, msg)
	}
	if resp, msg := answer(t, committing); resp.StatusCode != 200 || msg != fmt.Sprint(size) {
		t.Fatalf("the stored one: %d %s", resp.StatusCode, msg)
	}
}

// Requests with a body may hold all connections but an eighth: slow
// uploads leave room for /health.
func TestBodiesLeaveConnsForHealth(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 8
	cfg.BodyGrace = units.Duration(5 * time.Minute)
	var entered atomic.Int32
	ts := startServer(t, cfg, bodyRoutes(&entered))
	for range 7 {
		post(t, ts.addr, "/stream", 1<<20, 16<<10)
	}
	waitFor(t, "7 uploads in their handler", func() bool { return entered.Load() == 7 })
	resp, _ := answer(t, post(t, ts.addr, "/stream", 1<<20, 16<<10))
	if resp.StatusCode != fasthttp.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("8th upload: %d %v", resp.StatusCode, resp.Header)
	}
	waitFor(t, "/health", func() bool {
		resp, err := http.Get(ts.url + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
