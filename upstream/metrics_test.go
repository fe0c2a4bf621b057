package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRequestDuration: each attempt's time to response headers lands in a
// Prometheus histogram per upstream and status class, an attempt without
// a response under "error".
func TestRequestDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.Retries = 0
	r, set := newTestRegistry(t, cfg, RegistryOptions{URL: srv.URL, Name: "hub"})
	if code, _ := get(t, r, "a", "manifests/1"); code != 404 {
		t.Fatalf("status %d", code)
	}
	f := func(series, want string) {
		t.Helper()
		if got := metric(set, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	const h = `nora_upstream_request_duration_seconds`
	f(h+`_bucket{upstream="hub",status="4xx",le="0.025"}`, "0") // it took 30 ms at least
	f(h+`_bucket{upstream="hub",status="4xx",le="+Inf"}`, "1")
	f(h+`_count{upstream="hub",status="4xx"}`, "1")
	f(h+`_count{upstream="hub",status="2xx"}`, "") // created on first use

	srv.Close()
	if _, err := r.Do(context.Background(), http.MethodGet, "a", "manifests/1", nil); !IsUnavailable(err) {
		t.Fatalf("err = %v", err)
	}
	f(h+`_count{upstream="hub",status="error"}`, "1")
}
