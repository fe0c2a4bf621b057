package httpx

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// countingAuth counts the password checks it is asked for: a refusal by
// the Guard must not reach it (it stands for bcrypt).
type countingAuth struct {
	checks atomic.Int32
	good   string
}

func (c *countingAuth) Authenticate(user, pass string) (*auth.Identity, error) {
	c.checks.Add(1)
	if pass != c.good {
		return nil, auth.ErrBadCredentials
	}
	return &auth.Identity{Name: user}, nil
}

func (c *countingAuth) Allowed(id *auth.Identity, _ auth.Action, _, _ string) bool { return id != nil }
func (c *countingAuth) WritesEnabled() bool                                        { return true }

// basicFrom is a request from peer with Basic credentials, counted by g.
func basicFrom(g *Guard, peer, user, pass string) *fasthttp.RequestCtx {
	ctx := requestFrom(peer)
	ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	g.Attach(ctx)
	return ctx
}

func TestGuardEleventhFailure(t *testing.T) {
	g := NewGuard(DefaultGuardConfig())
	a := &countingAuth{good: "right"}
	for i := range 10 {
		if _, d := Authorize(basicFrom(g, "192.0.2.1", "alice", "wrong"+strconv.Itoa(i)), a, auth.Push, "npm", "x"); d != BadCredentials {
			t.Fatalf("attempt %d: %v", i+1, d)
		}
	}
	if n := a.checks.Load(); n != 10 {
		t.Fatalf("%d checks for 10 attempts", n)
	}
	// The 11th, even with the right password, is refused unchecked, in
	// the format's shape with Retry-After.
	ctx := basicFrom(g, "192.0.2.1", "alice", "right")
	var wrote int
	Gate(ctx, a, auth.Push, "npm", "x", "x", func(ctx *fasthttp.RequestCtx, status int, msg string) {
		wrote = status
		ctx.Response.Reset()
		ctx.SetStatusCode(status)
		ctx.SetBodyString(msg)
	})
	if n := a.checks.Load(); n != 10 {
		t.Fatalf("the refused attempt was checked: %d checks", n)
	}
	ra, err := strconv.Atoi(string(ctx.Response.Header.Peek(fasthttp.HeaderRetryAfter)))
	if wrote != fasthttp.StatusTooManyRequests || ctx.Response.StatusCode() != 429 || err != nil || ra < 1 || ra > 60 {
		t.Fatalf("11th attempt: status %d, Retry-After %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek(fasthttp.HeaderRetryAfter))
	}
	if ai, _ := Audit(ctx); !ai.LoginFailed || ai.Actor != "alice" || ai.RetryAfter <= 0 {
		t.Fatalf("audit info %+v", ai)
	}
	// Another address logs in as the same user.
	if id, d := Authorize(basicFrom(g, "192.0.2.2", "alice", "right"), a, auth.Push, "npm", "x"); d != Allowed || id == nil {
		t.Fatalf("good login from another address: %v", d)
	}
	// Credentials, which cannot say 429, says the credentials are not good.
	if id, present := Credentials(basicFrom(g, "192.0.2.1", "alice", "right"), a); id != nil || !present {
		t.Fatalf("Credentials of a refused login: %v %v", id, present)
	}
}

// TestGuardPerUser: guesses for one user from many addresses stop at the
// per-user limit; other users are not affected.
func TestGuardPerUser(t *testing.T) {
	g := NewGuard(GuardConfig{PerAddress: 10, PerUser: 3, Window: 60e9, Size: 100})
	a := &countingAuth{good: "right"}
	for i := range 3 {
		if _, d := Login(basicFrom(g, "192.0.2."+strconv.Itoa(i+1), "bob", "x"), a); d != BadCredentials {
			t.Fatalf("attempt %d: %v", i, d)
		}
	}
	if _, d := Login(basicFrom(g, "198.51.100.1", "bob", "right"), a); d != TooManyAttempts {
		t.Fatalf("4th guess for bob: %v", d)
	}
	if _, d := Login(basicFrom(g, "192.0.2.1", "carol", "right"), a); d != Allowed {
		t.Fatalf("carol: %v", d)
	}
	// A bearer token names no user: only its address counts.
	ctx := requestFrom("198.51.100.2")
	ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer nope")
	g.Attach(ctx)
	if _, d := Login(ctx, a); d != BadCredentials {
		t.Fatalf("bad bearer token: %v", d)
	}
}

// TestGuardInFlight: logins under way count against the last token, so
// parallel guesses cannot all pass it.
func TestGuardInFlight(t *testing.T) {
	g := NewGuard(GuardConfig{PerAddress: 2, Window: 60e9, Size: 10})
	addr := netip.MustParseAddr("192.0.2.1")
	at, _ := g.begin(addr, "")
	g.end(at, false) // one token left
	first, wait := g.begin(addr, "")
	if wait != 0 {
		t.Fatalf("first: wait %v", wait)
	}
	if _, wait := g.begin(addr, ""); wait <= 0 {
		t.Fatal("a second login passed while the first holds the last token")
	}
	g.end(first, true) // a success spends nothing
	if _, wait := g.begin(addr, ""); wait != 0 {
		t.Fatalf("after a success: wait %v", wait)
	}
}

// TestGuardBounded: the limiters remembered are bounded, least recently
// failed forgotten first; an IPv6 client counts by its /64.
func TestGuardBounded(t *testing.T) {
	g := NewGuard(GuardConfig{PerAddress: 1, PerUser: 100, Window: 60e9, Size: 2})
	fail := func(addr string) {
		at, _ := g.begin(netip.MustParseAddr(addr), "u")
		g.end(at, false)
	}
	blocked := func(addr string) bool {
		_, wait := g.begin(netip.MustParseAddr(addr), "")
		return wait > 0
	}
	fail("2001:db8::1")
	if !blocked("2001:db8::2") {
		t.Fatal("another address of the same /64 is not limited")
	}
	fail("192.0.2.1")
	fail("192.0.2.2")
	if len(g.addrs.m) != 2 || g.addrs.order.Len() != 2 {
		t.Fatalf("%d limiters remembered, bound 2", len(g.addrs.m))
	}
	if blocked("2001:db8::1") || !blocked("192.0.2.1") {
		t.Fatal("not the least recent one forgotten")
	}
}

func TestNilGuard(t *testing.T) {
	a := &countingAuth{good: "right"}
	ctx := requestFrom("192.0.2.1")
	ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Basic "+base64.StdEncoding.EncodeToString([]byte("u:right")))
	if _, d := Login(ctx, a); d != Allowed {
		t.Fatalf("no guard: %v", d)
	}
}
