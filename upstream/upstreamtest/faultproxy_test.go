package upstreamtest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoTarget serves size bytes at /body, redirects /redir to /body on its
// own absolute URL, and echoes the Host it saw at /host.
func echoTarget(t *testing.T, size int) (*httptest.Server, []byte, *atomic.Int64) {
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	hits := new(atomic.Int64)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/body":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case "/redir":
			http.Redirect(w, r, srv.URL+"/body?x=1", http.StatusTemporaryRedirect)
		case "/host":
			io.WriteString(w, r.Host)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, body, hits
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaultProxyForwards(t *testing.T) {
	srv, body, _ := echoTarget(t, 1<<16)
	p := NewFaultProxy(t, srv.URL)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	_, b, err := get(t, http.DefaultClient, p.URL+"/body")
	if err != nil || !bytes.Equal(b, body) {
		t.Fatalf("body through the proxy: %d bytes, %v", len(b), err)
	}
	resp, _, err := get(t, noFollow, p.URL+"/redir")
	if err != nil || resp.Header.Get("Location") != p.URL+"/body?x=1" {
		t.Fatalf("Location %q (%v), want it on the proxy", resp.Header.Get("Location"), err)
	}
	_, b, _ = get(t, http.DefaultClient, p.URL+"/host")
	if "http://"+string(b) != p.URL {
		t.Fatalf("target saw Host %q, want the proxy's", b)
	}
	if s := p.Stats(); s.Forwarded != 3 || s.Faulted != 0 || s.BodyBytes < int64(len(body)) {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultProxyStatusStorm(t *testing.T) {
	srv, _, hits := echoTarget(t, 16)
	p := NewFaultProxy(t, srv.URL)

	p.SetStatusStorm(http.StatusTooManyRequests, 1, 1500*time.Millisecond)
	for range 3 {
		resp, _, err := get(t, http.DefaultClient, p.URL+"/body")
		if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("storm answered %v %v, Retry-After %q", resp, err, resp.Header.Get("Retry-After"))
		}
	}
	p.SetStatusStorm(http.StatusServiceUnavailable, 1, 0)
	resp, _, _ := get(t, http.DefaultClient, p.URL+"/body")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("5xx storm: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if hits.Load() != 0 {
		t.Fatalf("the target was asked %d times during the storm", hits.Load())
	}
	p.SetStatusStorm(0, 0, 0)
	if resp, _, _ := get(t, http.DefaultClient, p.URL+"/body"); resp.StatusCode != 200 || hits.Load() != 1 {
		t.Fatalf("after the storm: %d, target hits %d", resp.StatusCode, hits.Load())
	}
	if s := p.Stats(); s.Stormed != 4 || s.Faulted != 4 || s.Forwarded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultProxyStormFraction(t *testing.T) {
	srv, _, _ := echoTarget(t, 16)
	p := NewFaultProxy(t, srv.URL)
	p.SetStatusStorm(http.StatusBadGateway, 0.5, 0)
	codes := map[int]int{}
	for range 200 {
		resp, _, err := get(t, http.DefaultClient, p.URL+"/body")
		if err != nil {
			t.Fatal(err)
		}
		codes[resp.StatusCode]++
	}
	// 200 draws at one half: outside 40..160 is a broken fraction, not luck.
	if codes[502] < 40 || codes[200] < 40 || codes[502]+codes[200] != 200 {
		t.Fatalf("codes %v at fraction 0.5", codes)
	}
}

func TestFaultProxyLossCutsBody(t *testing.T) {
	srv, body, _ := echoTarget(t, 1<<16)
	p := NewFaultProxy(t, srv.URL)
	p.SetLoss(1)
	resp, b, err := get(t, http.DefaultClient, p.URL+"/body")
	if err == nil || resp.StatusCode != 200 || len(b) == 0 || len(b) >= len(body) {
		t.Fatalf("lost response: status %v, %d of %d bytes, err %v; want a cut body", resp, len(b), len(body), err)
	}
	if !bytes.Equal(b, body[:len(b)]) {
		t.Fatal("the part before the cut differs")
	}
	if r, err := http.Head(p.URL + "/body"); err == nil {
		r.Body.Close()
		t.Fatalf("a lost HEAD got an answer: %d", r.StatusCode)
	}
	p.SetLoss(0)
	if _, b, err := get(t, http.DefaultClient, p.URL+"/body"); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("after loss off: %d bytes, %v", len(b), err)
	}
	if s := p.Stats(); s.Cut != 2 || s.Forwarded != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultProxyLossFraction(t *testing.T) {
	srv, _, _ := echoTarget(t, 1024)
	p := NewFaultProxy(t, srv.URL)
	p.SetLoss(0.1)
	cut := 0
	for range 100 {
		if _, _, err := get(t, http.DefaultClient, p.URL+"/body"); err != nil {
			cut++
		}
	}
	if cut == 0 || cut > 40 || int64(cut) != p.Stats().Cut {
		t.Fatalf("%d of 100 cut at 0.1, stats %+v", cut, p.Stats())
	}
}

// Sleeps are never shorter than asked, so lower bounds on the time a
// slowed response takes are robust; no upper bound is asserted.
func TestFaultProxyLatencyAndBandwidth(t *testing.T) {
	srv, body, _ := echoTarget(t, 32<<10)
	p := NewFaultProxy(t, srv.URL)

	p.SetLatency(300 * time.Millisecond)
	start := time.Now()
	if _, _, err := get(t, http.DefaultClient, p.URL+"/host"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("latency 300ms, answered in %v", d)
	}
	p.SetLatency(0)

	p.SetBandwidth(64 << 10) // 32 KiB at 64 KiB/s: half a second at least
	resp, err := http.Get(p.URL + "/body")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start = time.Now()
	reads := 0
	var got bytes.Buffer
	for buf := make([]byte, len(body)); ; reads++ {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if d := time.Since(start); d < 400*time.Millisecond || reads < 4 || !bytes.Equal(got.Bytes(), body) {
		t.Fatalf("capped body: %d bytes in %d reads and %v", got.Len(), reads, d)
	}
	p.Clear()
	if _, b, err := get(t, http.DefaultClient, p.URL+"/body"); err != nil || !strings.HasPrefix(string(b), "0123") {
		t.Fatalf("after Clear: %v", err)
	}
}
