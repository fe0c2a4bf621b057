package upstreamtest

import (
	"context"
	"errors"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// lossStall is how long a lost response hangs before its connection is
// cut: long enough to be a stall, short enough for a test.
const lossStall = 200 * time.Millisecond

// FaultProxy is a reverse proxy on loopback in front of any fixture that
// makes the link to it slow, narrow, lossy or overloaded, each fault
// switched on and off while it runs. It is a Go proxy rather than tc in a
// network namespace because it needs no privileges and runs on every CI
// box. It keeps the Host header, so a fixture that builds URLs from it
// points them at the proxy; Location headers that name the target are
// rewritten to the proxy. Bodies pass unchanged.
type FaultProxy struct {
	URL string // http://127.0.0.1:PORT

	target *url.URL
	rp     *httputil.ReverseProxy

	latency   atomic.Int64  // nanoseconds before each response
	bandwidth atomic.Int64  // bytes per second per response body, 0 = unlimited
	loss      atomic.Uint64 // float64 bits: fraction of responses cut
	cutNext   atomic.Int64  // responses to cut before SetLoss's fraction applies
	storm     atomic.Pointer[statusStorm]

	forwarded, stormed, cut, bodyBytes atomic.Int64
}

type statusStorm struct {
	status     int
	fraction   float64
	retryAfter time.Duration
}

// FaultStats counts what the proxy did since it started.
type FaultStats struct {
	Forwarded int64 // requests passed to the target (lossy ones included)
	Faulted   int64 // Stormed + Cut
	Stormed   int64 // requests answered by the status storm, not forwarded
	Cut       int64 // responses cut mid-body by SetLoss
	BodyBytes int64 // response body bytes written to the client
}

// NewFaultProxy serves on 127.0.0.1:0 and forwards to target
// (http://host:port) until t ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("fault proxy: bad target %q: %v", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{URL: "http://" + ln.Addr().String(), target: u}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 256
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport:      tr,
		ModifyResponse: p.rewriteLocation,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: p, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// SetLatency delays each response's first byte by d (a round trip).
func (p *FaultProxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetBandwidth caps each response body at bytesPerSec (per response, not
// shared); 0 is unlimited.
func (p *FaultProxy) SetBandwidth(bytesPerSec int64) { p.bandwidth.Store(bytesPerSec) }

// SetLoss stands in for packet loss: that fraction of responses sends its
// headers and about half its body, stalls, then the connection is reset.
func (p *FaultProxy) SetLoss(fraction float64) { p.loss.Store(math.Float64bits(fraction)) }

// CutNext cuts the next n responses as SetLoss does, whatever its fraction.
func (p *FaultProxy) CutNext(n int) { p.cutNext.Store(int64(n)) }

// SetStatusStorm answers that fraction of requests with status without
// asking the target, with Retry-After (whole seconds, rounded up) when
// retryAfter > 0. Status 0 ends the storm.
func (p *FaultProxy) SetStatusStorm(status int, fraction float64, retryAfter time.Duration) {
	if status == 0 {
		p.storm.Store(nil)
		return
	}
	p.storm.Store(&statusStorm{status: status, fraction: fraction, retryAfter: retryAfter})
}

// Clear switches every fault off.
func (p *FaultProxy) Clear() {
	p.SetLatency(0)
	p.SetBandwidth(0)
	p.SetLoss(0)
	p.CutNext(0)
	p.SetStatusStorm(0, 0, 0)
}

// Stats returns the counters.
func (p *FaultProxy) Stats() FaultStats {
	s := FaultStats{
		Forwarded: p.forwarded.Load(),
		Stormed:   p.stormed.Load(),
		Cut:       p.cut.Load(),
		BodyBytes: p.bodyBytes.Load(),
	}
	s.Faulted = s.Stormed + s.Cut
	return s
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !sleepCtx(r.Context(), time.Duration(p.latency.Load())) {
		return
	}
	if s := p.storm.Load(); s != nil && rand.Float64() < s.fraction {
		p.stormed.Add(1)
		if s.retryAfter > 0 {
			secs := int64(math.Ceil(s.retryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		http.Error(w, "fault proxy: status storm", s.status)
		return
	}
	p.forwarded.Add(1)
	fw := &faultWriter{rw: w, p: p, ctx: r.Context(), start: time.Now()}
	if f := math.Float64frombits(p.loss.Load()); f > 0 && rand.Float64() < f {
		fw.lose = true
	}
	for n := p.cutNext.Load(); n > 0 && !fw.lose; n = p.cutNext.Load() {
		fw.lose = p.cutNext.CompareAndSwap(n, n-1)
	}
	defer fw.finish()
	p.rp.ServeHTTP(fw, r)
}

// rewriteLocation points redirects that name the target at the proxy.
func (p *FaultProxy) rewriteLocation(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host != p.target.Host {
		return nil
	}
	self, _ := url.Parse(p.URL)
	u.Scheme, u.Host = self.Scheme, self.Host
	resp.Header.Set("Location", u.String())
	return nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errCut is what writes return once SetLoss has cut the connection.
var errCut = errors.New("fault proxy: connection cut")

// faultWriter paces a response body to the bandwidth cap and, for a lost
// response, holds the status until the body starts, sends about half of
// the body and then resets the connection.
type faultWriter struct {
	rw    http.ResponseWriter
	p     *FaultProxy
	ctx   context.Context
	rate  int64 // the cap paced against since start
	start time.Time
	paced int64 // bytes written since start

	lose   bool
	status int   // held status of a lost response, 0 once sent
	half   int64 // body bytes a lost response gets; -1 until known
	sent   int64
	done   bool
}

func (w *faultWriter) Header() http.Header { return w.rw.Header() }

func (w *faultWriter) WriteHeader(code int) {
	if !w.lose || code < 200 {
		w.rw.WriteHeader(code)
		return
	}
	w.status, w.half = code, -1
	if n, err := strconv.ParseInt(w.rw.Header().Get("Content-Length"), 10, 64); err == nil {
		w.half = n / 2
	}
}

func (w *faultWriter) Write(b []byte) (int, error) {
	switch {
	case w.done:
		return 0, errCut
	case !w.lose:
		return w.writeRated(b)
	}
	if w.status != 0 {
		w.rw.WriteHeader(w.status)
		w.status = 0
	}
	if w.half < 0 {
		w.half = int64(len(b) / 2)
	}
	if left := w.half - w.sent; left < int64(len(b)) {
		n, _ := w.writeRated(b[:left])
		w.flush()
		w.cutNow()
		return n, errCut
	}
	return w.writeRated(b)
}

// Flush passes on, except while a lost response still holds its status.
func (w *faultWriter) Flush() {
	if w.status == 0 && !w.done {
		w.flush()
	}
}

func (w *faultWriter) flush() {
	if f, ok := w.rw.(http.Flusher); ok {
		f.Flush()
	}
}

// writeRated writes b in chunks no faster than the current cap allows.
func (w *faultWriter) writeRated(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		rate := w.p.bandwidth.Load()
		if rate <= 0 {
			m, err := w.rw.Write(b)
			w.count(m)
			return n + m, err
		}
		if rate != w.rate {
			w.rate, w.start, w.paced = rate, time.Now(), 0
		}
		c := min(len(b), int(min(max(rate/20, 512), 64<<10)))
		due := w.start.Add(time.Duration(float64(w.paced+int64(c)) / float64(rate) * float64(time.Second)))
		if !sleepCtx(w.ctx, time.Until(due)) {
			return n, w.ctx.Err()
		}
		m, err := w.rw.Write(b[:c])
		w.count(m)
		w.paced += int64(m)
		n += m
		if err != nil {
			return n, err
		}
		w.flush()
		b = b[c:]
	}
	return n, nil
}

func (w *faultWriter) count(n int) {
	w.sent += int64(n)
	w.p.bodyBytes.Add(int64(n))
}

// cutNow stalls, then resets the connection.
func (w *faultWriter) cutNow() {
	w.done = true
	w.p.cut.Add(1)
	sleepCtx(w.ctx, lossStall)
	conn, _, err := http.NewResponseController(w.rw).Hijack()
	if err != nil {
		return // HTTP/2 cannot be hijacked; the fixtures speak HTTP/1
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST, as a broken link looks to a client
	}
	conn.Close()
}

// finish cuts a lost response that never wrote a body (HEAD, empty, an
// error from the target): the client gets a reset instead of headers.
func (w *faultWriter) finish() {
	if w.lose && w.status != 0 && !w.done {
		w.status = 0
		w.cutNow()
	}
}
