package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestViaChain(t *testing.T) {
	v := newVia("hub")
	if v.Chain() != "hub" {
		t.Fatalf("idle chain %q", v.Chain())
	}
	leave1 := v.Enter("edge-2, edge-1")
	leave2 := v.Enter("edge-1")
	if got := v.Chain(); got != "hub, edge-1, edge-2" {
		t.Errorf("chain %q", got)
	}
	leave1()
	if got := v.Chain(); got != "hub, edge-1" {
		t.Errorf("chain after one left %q", got)
	}
	leave2()
	if got := v.Chain(); got != "hub" {
		t.Errorf("chain after all left %q", got)
	}
	for in, want := range map[string]bool{"hub": true, "a, hub": true, "a,hub ,b": true, "hubx, a": false, "": false} {
		if v.Holds([]byte(in)) != want {
			t.Errorf("Holds(%q) = %v", in, !want)
		}
	}
}

// Every request sent upstream names this nora; a loop answered 508 is
// neither retried nor counted against the upstream's breaker.
func TestViaSentAndLoopNotRetried(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(HeaderVia))
		w.WriteHeader(StatusLoopDetected)
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.BreakerFailures = 1
	c := NewClient(cfg, nil, nil)
	r, err := c.Registry(RegistryOptions{Name: "hub", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	leave := c.Via().Enter("edge")
	defer leave()
	for range 2 {
		resp, err := r.DoURL(context.Background(), http.MethodGet, "/npm/x", http.Header{HeaderVia: {"forged"}})
		if err != nil {
			t.Fatal(err) // an open breaker would refuse the second
		}
		resp.Body.Close()
	}
	want := c.Via().ID() + ", edge"
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("upstream saw %q, want 2 × %q", got, want)
	}
}
