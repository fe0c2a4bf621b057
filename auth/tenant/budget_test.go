package tenant

import (
	"errors"
	"testing"

	"nora/internal/fault"
)

func TestUpstreamBudget(t *testing.T) {
	s := mustNew(t, Options{Tenants: []Config{
		{Name: "big", Prefixes: []string{"big/**"}, Weight: 3},
		{Name: "small", Prefixes: []string{"small/**"}},
	}})
	big, small, def := s.Lookup("big"), s.Lookup("small"), s.Lookup(Default)
	// Weights 3, 1 and 1 (the default): of 100 pulls, 60, 20 and 20.
	remaining := 100
	take := func(tn *Tenant, times int) {
		t.Helper()
		for i := range times {
			if err := tn.TakeUpstreamPull("hub", remaining, true); err != nil {
				t.Fatalf("%s, pull %d: %v", tn.Name(), i+1, err)
			}
			remaining--
		}
	}
	take(small, 20)
	err := small.TakeUpstreamPull("hub", remaining, true)
	if !errors.Is(err, fault.RateLimited) || fault.RetryAfter(err) != 60 {
		t.Fatalf("err = %v, want a rate limit of 60 s", err)
	}
	const msg = "tenant small has used its share (20 of 100) of upstream hub's pull budget; cached content is still served"
	if got := fault.Message(err); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
	take(big, 60)
	take(def, 20)
	if big.TakeUpstreamPull("hub", remaining, true) == nil || def.TakeUpstreamPull("hub", remaining, true) == nil {
		t.Fatal("a tenant passes its share")
	}
	// Another upstream has its own budget; an upstream that does not
	// say its remaining pulls is not limited.
	if err := small.TakeUpstreamPull("quay", 10, true); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := small.TakeUpstreamPull("hub", 0, false); err != nil {
			t.Fatal(err)
		}
	}
	// The window resets when the remaining count rises.
	remaining = 10
	take(small, 2)
	if small.TakeUpstreamPull("hub", remaining, true) == nil {
		t.Fatal("small passes its share of the new window")
	}
	remaining-- // another instance spent one: no reset
	if small.TakeUpstreamPull("hub", remaining, true) == nil {
		t.Fatal("a lower remaining count reset the window")
	}
}
