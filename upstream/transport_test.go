package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Each layer of newTransport's stack, alone over the shared client's
// adapter, against a real server.

// statusServer answers the statuses in order (then the last one again),
// counting calls.
func statusServer(t *testing.T, calls *atomic.Int32, statuses ...int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		w.Header().Set("Ratelimit-Remaining", "42;w=60")
		w.WriteHeader(statuses[min(n, len(statuses))-1])
		io.WriteString(w, "body")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, rt http.RoundTripper, ctx context.Context, method, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

var client = clientTransport{http.DefaultClient}

func TestClientTransport(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/x?sig=secret"
	if resp, err := send(t, client, context.Background(), "GET", url); err != nil || resp.StatusCode != 404 {
		t.Fatalf("answer: %v %v", resp, err)
	}
	srv.Close()
	if _, err := send(t, client, context.Background(), "GET", url); !IsUnavailable(err) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("no answer: %v, want unavailable with the URL redacted", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := send(t, client, ctx, "GET", url); err == nil || IsUnavailable(err) {
		t.Fatalf("caller gave up: %v, want not unavailable", err)
	}
}

func TestRetryTransport(t *testing.T) {
	f := func(method string, retries int, stop bool, statuses []int, wantStatus int, wantCalls int32) {
		t.Helper()
		var calls atomic.Int32
		srv := statusServer(t, &calls, statuses...)
		counter := metrics.NewSet().NewCounter("retries")
		rt := &retryTransport{next: client, retries: retries, base: time.Millisecond, limit: time.Millisecond,
			stop: func() bool { return stop }, log: discardLog(), counter: counter}
		resp, err := send(t, rt, context.Background(), method, srv.URL)
		if err != nil || resp.StatusCode != wantStatus || calls.Load() != wantCalls || counter.Get() != uint64(wantCalls-1) {
			t.Fatalf("%s %v: %v %v after %d calls (%d retries counted), want %d after %d",
				method, statuses, resp, err, calls.Load(), counter.Get(), wantStatus, wantCalls)
		}
	}
	f("GET", 3, false, []int{503, 502, 200}, 200, 3)
	f("HEAD", 3, false, []int{500, 200}, 200, 2)
	f("GET", 2, false, []int{503}, 503, 3) // gives up: the last answer
	f("GET", 3, false, []int{404}, 404, 1)
	f("POST", 3, false, []int{503, 200}, 503, 1) // not idempotent
	f("GET", 3, true, []int{503, 200}, 503, 1)   // the breaker opened

	// no answer is retried; the breaker saying no is not
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	var tries atomic.Int32
	rt := &retryTransport{next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if tries.Add(1) == 1 {
			return client.RoundTrip(r)
		}
		return nil, ErrBreakerOpen
	}), retries: 5, stop: func() bool { return false }, log: discardLog(), counter: metrics.NewSet().NewCounter("r")}
	if _, err := send(t, rt, context.Background(), "GET", srv.URL); !errors.Is(err, ErrBreakerOpen) || tries.Load() != 2 {
		t.Fatalf("after %d tries: %v, want the breaker's refusal after 2", tries.Load(), err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBreakerTransport(t *testing.T) {
	var calls atomic.Int32
	srv := statusServer(t, &calls, 502, 502, 404, 502)
	clk := newFakeClock()
	rt := &breakerTransport{next: client, breaker: newBreaker(2, time.Minute, discardLog(), metricsGauge(), clk.now),
		health: &health{}, now: clk.now}
	f := func(wantStatus int, wantCalls int32, wantState string) {
		t.Helper()
		resp, err := send(t, rt, context.Background(), "GET", srv.URL)
		switch {
		case wantStatus == 0 && !errors.Is(err, ErrBreakerOpen):
			t.Fatalf("want the breaker's refusal, got %v %v", resp, err)
		case wantStatus != 0 && (err != nil || resp.StatusCode != wantStatus):
			t.Fatalf("got %v %v, want %d", resp, err, wantStatus)
		}
		if state, _ := rt.breaker.snapshot(); calls.Load() != wantCalls || state != wantState {
			t.Fatalf("%d calls, breaker %s; want %d, %s", calls.Load(), state, wantCalls, wantState)
		}
	}
	f(502, 1, "closed")
	if rt.health.lastErr.Load() == nil || rt.health.lastOK.Load() != 0 {
		t.Fatal("a 5xx not recorded as the last failure")
	}
	f(502, 2, "open")
	f(0, 2, "open")
	clk.advance(time.Minute)
	// A trial whose caller gave up proves nothing: the next is the trial.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := send(t, rt, ctx, "GET", srv.URL); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled trial: %v", err)
	}
	f(404, 3, "closed") // an answer below 500 closes it
	if rt.health.lastOK.Load() != clk.now().UnixNano() {
		t.Fatal("success not recorded at the clock's time")
	}
	f(502, 4, "closed")
}

func TestAuthTransport(t *testing.T) {
	fk := newFake(t, nil)
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL})
	rt := &authTransport{next: client, r: r}
	ctx := withScope(context.Background(), "repository:a:pull")
	for i := range 2 {
		resp, err := send(t, rt, ctx, "GET", fk.reg.URL+"/v2/a/manifests/1")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	// one token, fetched on the first challenge, sent up front the second time
	if fk.issued.Load() != 1 || fk.hits.Load() != 2 {
		t.Fatalf("tokens %d, authorized requests %d; want 1, 2", fk.issued.Load(), fk.hits.Load())
	}
}

func TestRateTransport(t *testing.T) {
	var calls atomic.Int32
	srv := statusServer(t, &calls, 200)
	rt := &rateTransport{next: client, rate: &rateLimit{set: metrics.NewSet(), name: "x"}}
	if _, err := send(t, rt, context.Background(), "GET", srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := rt.rate.remaining.Load(); got != 43 {
		t.Fatalf("remaining+1 = %d, want 43", got)
	}
}

func TestMeterAndCountTransports(t *testing.T) {
	var calls atomic.Int32
	srv := statusServer(t, &calls, 404)
	set := metrics.NewSet()
	m := newRegistryMetrics(set, "x")
	rt := &countTransport{next: &meterTransport{next: client, m: m}, counter: m.bytes}
	resp, err := send(t, rt, context.Background(), "GET", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := metric(set, `nora_upstream_bytes_total{upstream="x"}`); got != "0" {
		t.Fatalf("bytes counted before any was read: %s", got)
	}
	io.ReadAll(resp.Body)
	if got := metric(set, `nora_upstream_bytes_total{upstream="x"}`); got != "4" {
		t.Fatalf("bytes %s, want 4", got)
	}
	if got := metric(set, `nora_upstream_requests_total{upstream="x",status="4xx"}`); got != "1" {
		t.Fatalf("4xx requests %s, want 1", got)
	}
}
