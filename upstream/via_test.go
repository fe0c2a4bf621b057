package upstream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestViaChain(t *testing.T) {
	const hub, e1, e2 = "00000000000000a0", "00000000000000e1", "00000000000000e2"
	v := newVia(hub)
	if v.Chain() != hub {
		t.Fatalf("idle chain %q", v.Chain())
	}
	leave1 := v.Enter(e2 + ", " + e1 + ", forged, " + strings.Repeat("f", 64))
	leave2 := v.Enter(e1)
	if got := v.Chain(); got != hub+", "+e1+", "+e2 {
		t.Errorf("chain %q (ids not of nora's shape must not be carried)", got)
	}
	leave1()
	if got := v.Chain(); got != hub+", "+e1 {
		t.Errorf("chain after one left %q", got)
	}
	leave2()
	if got := v.Chain(); got != hub {
		t.Errorf("chain after all left %q", got)
	}
	// A client cannot swell the chain every upstream request carries.
	var leaves []func()
	for i := range 3 * maxServing {
		leaves = append(leaves, v.Enter(fmt.Sprintf("%016x", i+1)))
	}
	if n := strings.Count(v.Chain(), ","); n != maxServing {
		t.Errorf("chain of %d downstream ids, want at most %d", n, maxServing)
	}
	for _, leave := range leaves {
		leave()
	}
	if got := v.Chain(); got != hub {
		t.Errorf("chain after all left %q", got)
	}
	for in, want := range map[string]bool{hub: true, "a, " + hub: true, "a," + hub + " ,b": true, hub + "x, a": false, "": false} {
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
	const edge = "00000000000000e1"
	leave := c.Via().Enter(edge)
	defer leave()
	for range 2 {
		resp, err := r.DoURL(context.Background(), http.MethodGet, "/npm/x", http.Header{HeaderVia: {"forged"}})
		if err != nil {
			t.Fatal(err) // an open breaker would refuse the second
		}
		resp.Body.Close()
	}
	want := c.Via().ID() + ", " + edge
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("upstream saw %q, want 2 × %q", got, want)
	}
}
