package tenant

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"nora/auth"
	"nora/internal/fault"
)

// refused checks that err is a rate limit with msg and a wait of
// retryAfter seconds.
func refused(t *testing.T, err error, msg string, retryAfter int) {
	t.Helper()
	if !errors.Is(err, fault.RateLimited) {
		t.Fatalf("err = %v, want a rate limit", err)
	}
	if got := fault.Message(err); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
	if got := fault.RetryAfter(err); got != retryAfter {
		t.Errorf("RetryAfter = %d, want %d", got, retryAfter)
	}
}

func TestAdmitRateLimit(t *testing.T) {
	clk := newClock()
	s := mustNew(t, Options{Now: clk.Now, Tenants: []Config{
		{Name: "team-a", Prefixes: []string{"a/**"}, RateLimit: RateLimit{Pull: 2, Push: 3}},
		{Name: "team-b", Prefixes: []string{"b/**"}, RateLimit: RateLimit{Pull: 2}},
	}})
	id := &auth.Identity{Name: "alice", Subjects: []string{"alice"}}
	addr := netip.MustParseAddr("192.0.2.1")
	admit := func(action auth.Action, name string) error {
		t.Helper()
		tn, err := s.Admit(id, addr, action, "docker", name)
		if want := s.Owner("docker", name); tn != want {
			t.Fatalf("Admit counted %s against %v, want %v", name, tn, want)
		}
		return err
	}
	for range 2 {
		if err := admit(auth.Pull, "a/app"); err != nil {
			t.Fatal(err)
		}
	}
	const pullMsg = "tenant team-a has reached its pull rate limit of 2 requests per hour"
	refused(t, admit(auth.Pull, "a/app"), pullMsg, 1800)
	clk.Add(1799 * time.Second)
	// A refusal spends nothing: one pull is back after 1800 s in all.
	refused(t, admit(auth.Pull, "a/app"), pullMsg, 1)
	// Another tenant, and team-a's pushes, are not affected.
	for range 2 {
		if err := admit(auth.Pull, "b/app"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Second)
	if err := admit(auth.Pull, "a/app"); err != nil {
		t.Fatalf("no pull after the wait: %v", err)
	}
	refused(t, admit(auth.Pull, "a/app"), pullMsg, 1800)
	clk.Add(100*time.Second + time.Second/2)
	refused(t, admit(auth.Pull, "a/app"), pullMsg, 1700) // whole seconds, rounded up

	// Push, delete and admin share the push limit.
	for _, a := range []auth.Action{auth.Push, auth.Delete, auth.Admin} {
		if err := admit(a, "a/app"); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	refused(t, admit(auth.Delete, "a/app"), "tenant team-a has reached its push rate limit of 3 requests per hour", 1200)

	// The default tenant has no limit.
	for range 10 {
		if err := admit(auth.Push, "c/app"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdmitAnonymous(t *testing.T) {
	clk := newClock()
	s := mustNew(t, Options{Now: clk.Now, AnonymousPerMinute: 2})
	admit := func(addr string) error {
		t.Helper()
		a, _ := netip.ParseAddr(addr) // "" is the invalid address
		_, err := s.Admit(nil, a, auth.Pull, "docker", "library/alpine")
		return err
	}
	const msg = "too many anonymous requests from this address (limit 2 per minute)"
	spend := func(addr string) {
		t.Helper()
		for range 2 {
			if err := admit(addr); err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
		}
		refused(t, admit(addr), msg, 30)
	}
	spend("192.0.2.1")
	refused(t, admit("::ffff:192.0.2.1"), msg, 30) // the same host
	spend("192.0.2.2")
	// An IPv6 client counts by its /64.
	spend("2001:db8:0:1::1")
	refused(t, admit("2001:db8:0:1:ffff::2"), msg, 30)
	spend("2001:db8:0:2::1")
	// Invalid addresses share one limiter.
	spend("")
	// Identified pulls are not limited per address.
	id := &auth.Identity{Name: "alice", Subjects: []string{"alice"}}
	if _, err := s.Admit(id, netip.MustParseAddr("192.0.2.1"), auth.Pull, "docker", "library/alpine"); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Second)
	if err := admit("192.0.2.1"); err != nil {
		t.Fatalf("no pull after the wait: %v", err)
	}
}

func TestAdmitAnonymousForgetsOldest(t *testing.T) {
	s := mustNew(t, Options{Now: newClock().Now, AnonymousPerMinute: 1})
	s.anon = newAnonymous(1, 2)
	admit := func(addr string) error {
		_, err := s.Admit(nil, netip.MustParseAddr(addr), auth.Pull, "npm", "left-pad")
		return err
	}
	for _, a := range []string{"192.0.2.1", "192.0.2.2"} {
		if err := admit(a); err != nil {
			t.Fatal(err)
		}
	}
	if admit("192.0.2.1") == nil {
		t.Fatal("a spent address pulls again")
	}
	// A third address makes the bound forget the least recent, .2 (.1
	// was just refused, which is a use).
	if err := admit("192.0.2.3"); err != nil {
		t.Fatal(err)
	}
	if len(s.anon.m) != 2 || s.anon.order.Len() != 2 {
		t.Fatalf("%d addresses remembered, want 2", len(s.anon.m))
	}
	if err := admit("192.0.2.2"); err != nil {
		t.Fatalf("a forgotten address is still limited: %v", err)
	}
	if admit("192.0.2.3") == nil {
		t.Fatal("a remembered address pulls again")
	}
}

// TestAdmitBothOrNeither: when the address or the tenant refuses an
// anonymous pull, neither is spent.
func TestAdmitBothOrNeither(t *testing.T) {
	clk := newClock()
	s := mustNew(t, Options{Now: clk.Now, AnonymousPerMinute: 1, Tenants: []Config{
		{Name: Default, RateLimit: RateLimit{Pull: 2}},
	}})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	def := s.Lookup(Default)
	tokens := func(addr netip.Addr) (float64, float64) {
		s.anon.mu.Lock()
		defer s.anon.mu.Unlock()
		return s.anon.get(addrKey(addr)).TokensAt(clk.Now()), def.pull.TokensAt(clk.Now())
	}
	if _, err := s.Admit(nil, a, auth.Pull, "docker", "x"); err != nil {
		t.Fatal(err)
	}
	// The address refuses: the tenant keeps its pull.
	if _, err := s.Admit(nil, a, auth.Pull, "docker", "x"); err == nil {
		t.Fatal("the address limit let a second pull through")
	}
	if _, tt := tokens(a); tt != 1 {
		t.Fatalf("the tenant has %v pulls left, want 1", tt)
	}
	id := &auth.Identity{Name: "alice", Subjects: []string{"alice"}}
	if _, err := s.Admit(id, a, auth.Pull, "docker", "x"); err != nil {
		t.Fatal(err)
	}
	// The tenant refuses: the address keeps its pull.
	_, err := s.Admit(nil, b, auth.Pull, "docker", "x")
	refused(t, err, "tenant default has reached its pull rate limit of 2 requests per hour", 1800)
	if at, _ := tokens(b); at != 1 {
		t.Fatalf("the address has %v pulls left, want 1", at)
	}
}
