package upstream

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestStatus follows one upstream through success, 5xx until the breaker
// opens, and a refused connection; the client lists its upstreams by name.
func TestStatus(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Ratelimit-Remaining", "76;w=21600")
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.BreakerFailures, cfg.BreakerCooldown = 3, time.Hour
	c := NewClient(cfg, slog.New(slog.DiscardHandler), metrics.NewSet())
	r, err := c.Registry(RegistryOptions{Name: "b", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Registry(RegistryOptions{Name: "a", URL: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	get := func() {
		if resp, err := r.Do(context.Background(), http.MethodGet, "x", "manifests/1", nil); err == nil {
			drain(resp.Body)
		}
	}

	if s := r.Status(); s.Breaker != "closed" || s.LastSuccess != nil || s.LastError != "" || s.RateLimitRemaining != nil {
		t.Fatalf("new upstream: %+v", s)
	}
	get()
	s := r.Status()
	if s.Breaker != "closed" || s.LastSuccess == nil || s.LastError != "" || s.RateLimitRemaining == nil || *s.RateLimitRemaining != 76 {
		t.Fatalf("after a success: %+v", s)
	}
	failing.Store(true)
	get()
	s = r.Status()
	if s.Breaker != "open" || s.OpenedAt == nil || s.LastError != "HTTP 503 Service Unavailable" ||
		s.LastErrorAt == nil || s.LastErrorAt.Before(*s.LastSuccess) {
		t.Fatalf("after 5xx: %+v", s)
	}

	srv.Close()
	r.breaker.mu.Lock()
	r.breaker.state, r.breaker.count = closed, 0
	r.breaker.mu.Unlock()
	get()
	s = r.Status()
	if !strings.HasPrefix(s.LastError, "Get: dial tcp ") || strings.Contains(s.LastError, "/v2/") {
		t.Fatalf("a refused connection is reported with its URL or not at all: %q", s.LastError)
	}

	all := c.Status()
	if len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" || all[1].Breaker != "open" {
		t.Fatalf("client status: %+v", all)
	}
	// A second upstream under one name replaces the first.
	if _, err := c.Registry(RegistryOptions{Name: "b", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if all := c.Status(); len(all) != 2 || all[1].Breaker != "closed" {
		t.Fatalf("after replacing b: %+v", all)
	}

	cfg.BreakerFailures = 0
	off, _ := newTestRegistry(t, cfg, RegistryOptions{URL: srv.URL})
	if s := off.Status(); s.Breaker != "disabled" {
		t.Fatalf("breaker off: %+v", s)
	}
}
