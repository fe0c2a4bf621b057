package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryAfterHolds: after a 429 with Retry-After, the same URL is not
// revalidated (HEAD, conditional GET) until it has passed (nora answers 429
// itself, with the time left); a plain GET of it, and other URLs, still go
// out; both kinds of 429 are counted.
func TestRetryAfterHolds(t *testing.T) {
	var limited atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if limited.Load() && r.URL.Path == "/v2/a/manifests/1" {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	clock := newFakeClock()
	cfg := testConfig()
	cfg.BreakerFailures = 1 // a 429 is an answer: it must not open the breaker
	cfg.RetryAfterMax = time.Hour
	r, set := newClockedRegistry(t, cfg, RegistryOptions{URL: srv.URL, Name: "hub"}, clock.now)
	etag := http.Header{"If-None-Match": {`"1"`}}
	get := func(method, path string, hdr http.Header, wantStatus int, wantRetryAfter string, wantCalls int32) {
		t.Helper()
		resp, err := r.Do(context.Background(), method, "a", path, hdr)
		if err != nil {
			t.Fatal(err)
		}
		drain(resp.Body)
		if resp.StatusCode != wantStatus || resp.Header.Get("Retry-After") != wantRetryAfter || calls.Load() != wantCalls {
			t.Fatalf("%s %s: %d Retry-After %q after %d upstream calls; want %d %q after %d", method, path,
				resp.StatusCode, resp.Header.Get("Retry-After"), calls.Load(), wantStatus, wantRetryAfter, wantCalls)
		}
	}
	limited.Store(true)
	get("HEAD", "manifests/1", nil, 429, "30", 1)
	get("HEAD", "manifests/1", nil, 429, "30", 1) // held: not asked
	get("GET", "manifests/1", etag, 429, "30", 1)
	clock.advance(20 * time.Second)
	get("HEAD", "manifests/1", nil, 429, "10", 1)
	get("GET", "manifests/2", etag, 200, "", 2)  // another URL goes out
	get("GET", "manifests/1", nil, 429, "30", 3) // nothing to serve stale: asks
	clock.advance(30 * time.Second)
	limited.Store(false)
	get("HEAD", "manifests/1", nil, 200, "", 4) // Retry-After passed: asked again
	get("HEAD", "manifests/1", nil, 200, "", 5)
	if got := metric(set, `nora_upstream_rate_limited_total{upstream="hub"}`); got != "2" {
		t.Fatalf("rate limited counter %s, want 2", got)
	}
	if got := metric(set, `nora_upstream_held_total{upstream="hub"}`); got != "3" {
		t.Fatalf("held counter %s, want 3", got)
	}
	if s := r.Status(); s.Breaker != "closed" {
		t.Fatalf("breaker %s after 429s", s.Breaker)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := func(v string, want time.Duration) {
		t.Helper()
		if got := retryAfter(v, now, 15*time.Minute); got != want {
			t.Fatalf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	f("7", 7*time.Second)
	f(" 0 ", 0)
	f("", defaultRetryAfter)
	f("soon", defaultRetryAfter)
	f("-3", defaultRetryAfter)
	f("99999999999", 15*time.Minute)
	f(now.Add(90*time.Second).UTC().Format(http.TimeFormat), 90*time.Second)
	f(now.Add(-time.Minute).UTC().Format(http.TimeFormat), 0)
	f(now.Add(48*time.Hour).UTC().Format(http.TimeFormat), 15*time.Minute)
}

// TestHoldsBounded: a flood of held URLs stops at maxHeld, expired ones
// make room again.
func TestHoldsBounded(t *testing.T) {
	var h holds
	now := time.Unix(1_700_000_000, 0)
	for i := range maxHeld + 10 {
		h.hold(string(rune(i)), now.Add(time.Second), now)
	}
	if n := h.n.Load(); n != maxHeld {
		t.Fatalf("%d held, want %d", n, maxHeld)
	}
	later := now.Add(2 * time.Second)
	h.hold("new", later.Add(time.Second), later)
	if n := h.n.Load(); n != 1 || h.left("new", later) != time.Second {
		t.Fatalf("after expiry: %d held", n)
	}
}

// TestRetryAfterHoldOff: RetryAfterMax 0 (the zero Config) holds nothing.
func TestRetryAfterHoldOff(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.RetryAfterMax = 0
	r, _ := newTestRegistry(t, cfg, RegistryOptions{URL: srv.URL})
	for range 2 {
		resp, err := r.Do(context.Background(), http.MethodHead, "a", "manifests/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		drain(resp.Body)
	}
	if calls.Load() != 2 {
		t.Fatalf("upstream asked %d times with the hold off, want 2", calls.Load())
	}
}
