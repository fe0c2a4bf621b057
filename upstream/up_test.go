package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpGauge: nora_upstream_up is 1 for an upstream not asked yet and
// after an answer below 500, 0 after a 5xx or no answer, and stays 0 while
// the breaker is open and refuses attempts.
func TestUpGauge(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNotFound) // an answer all the same
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.Retries, cfg.BreakerFailures, cfg.BreakerCooldown = 0, 2, time.Hour
	r, set := newTestRegistry(t, cfg, RegistryOptions{URL: srv.URL, Name: "hub"})
	up := func(want string) {
		t.Helper()
		if got := metric(set, `nora_upstream_up{upstream="hub"}`); got != want {
			t.Fatalf("nora_upstream_up = %q, want %q", got, want)
		}
	}
	do := func() {
		if resp, err := r.Do(context.Background(), http.MethodGet, "a", "manifests/1", nil); err == nil {
			drain(resp.Body)
		}
	}
	up("1")
	do()
	up("1")
	failing.Store(true)
	do()
	up("0")
	failing.Store(false)
	do() // one failure does not open the breaker: this attempt goes out
	up("1")

	failing.Store(true)
	do()
	do()
	if s := r.Status(); s.Breaker != "open" {
		t.Fatalf("breaker %s after 2 failures", s.Breaker)
	}
	failing.Store(false)
	do() // refused by the open breaker: still down
	up("0")
	srv.Close()
	r.breaker.mu.Lock()
	r.breaker.state, r.breaker.count = closed, 0
	r.breaker.mu.Unlock()
	do() // no answer at all
	up("0")
}
