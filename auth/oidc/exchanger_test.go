package oidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/auth"
	"nora/auth/oidc/oidctest"
	"nora/internal/fault"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ciProvider(issuer string) auth.Provider {
	return auth.Provider{Name: "ci", Issuer: issuer, Audience: oidctest.DefaultAudience, Rules: []auth.ProviderRule{
		{Name: "frontend-ci", Match: map[string]string{"repository": "org/frontend-*", "ref": "refs/heads/**"},
			Permissions: []string{"push:frontend/**", "push:npm:@frontend/*"}},
		{Match: map[string]string{"repository_owner": "org"}, Permissions: []string{"pull:**"}},
	}}
}

func frontendClaims() map[string]any {
	return map[string]any{"repository": "org/frontend-web", "ref": "refs/heads/main", "repository_owner": "org", "run_id": "7"}
}

// newExchanger is an Exchanger for is's provider "ci" on a test clock that
// the issuer shares.
func newExchanger(t *testing.T, is *oidctest.Issuer) (*Exchanger, *clock) {
	t.Helper()
	c := &clock{t: time.Now()}
	is.Now = c.now
	e, err := New(auth.OIDCConfig{Providers: []auth.Provider{ciProvider(is.URL)}}, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// frontendToken exchanges an ID token of a frontend job.
func frontendToken(t *testing.T, is *oidctest.Issuer, e *Exchanger) Issued {
	t.Helper()
	got, err := e.Exchange(context.Background(), is.Mint(t, oidctest.Token{Claims: frontendClaims()}))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExchangeGrantsMatchingRules(t *testing.T) {
	is := oidctest.New(t)
	e, _ := newExchanger(t, is)
	for _, alg := range []oidctest.Alg{oidctest.RS256, oidctest.ES256} {
		idToken := is.Mint(t, oidctest.Token{Alg: alg, Claims: frontendClaims()})
		got, err := e.Exchange(context.Background(), idToken)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if !strings.HasPrefix(got.Token, Prefix) || strings.Contains(got.Token, idToken) {
			t.Fatalf("%s: token %q", alg, got.Token)
		}
		if got.ExpiresIn != 10*time.Minute { // the ID token's life, under DefaultTTL
			t.Fatalf("%s: expires in %v", alg, got.ExpiresIn)
		}
		id, err := e.Verify(got.Token)
		if err != nil {
			t.Fatal(err)
		}
		if id.Name != "ci" || id.Kind != auth.OIDC || !slices.Equal(id.Subjects, []string{"frontend-ci", "ci"}) {
			t.Fatalf("%s: identity %+v", alg, id)
		}
		if want := "oidc ci ref=refs/heads/main repository=org/frontend-web repository_owner=org"; id.Actor != want {
			t.Fatalf("actor %q, want %q", id.Actor, want)
		}
		f := func(action auth.Action, format, name string, want bool) {
			t.Helper()
			if auth.Permits(id.Limit, action, format, name) != want {
				t.Fatalf("%s %s %s: want %v", action, format, name, want)
			}
		}
		f(auth.Push, "docker", "frontend/web", true)
		f(auth.Push, "npm", "@frontend/ui", true)
		f(auth.Push, "docker", "backend/x", false)
		f(auth.Pull, "docker", "backend/x", true)
		f(auth.Delete, "docker", "frontend/web", false)
		if !e.Active() || !e.Current(id) {
			t.Fatal("not active, or the identity is not current")
		}
	}
}

// Each refusal says why in words of its own, never with the token, and
// is ErrRejected (401) but for a token no rule matches (403).
func TestExchangeRefusals(t *testing.T) {
	is := oidctest.New(t)
	e, c := newExchanger(t, is)
	f := func(tok oidctest.Token, kind fault.Kind, rejectedErr bool, reason string) {
		t.Helper()
		if tok.Claims == nil {
			tok.Claims = frontendClaims()
		}
		idToken := is.Mint(t, tok)
		_, err := e.Exchange(context.Background(), idToken)
		if err == nil {
			t.Fatalf("%+v: exchanged", tok)
		}
		msg := fault.Message(err)
		if fault.KindOf(err) != kind || errors.Is(err, ErrRejected) != rejectedErr || !strings.Contains(msg, reason) {
			t.Fatalf("%+v: err %v (kind %v, message %q), want %v %q", tok, err, fault.KindOf(err), msg, kind, reason)
		}
		if strings.Contains(err.Error(), idToken) || strings.Contains(msg, idToken) {
			t.Fatal("the error holds the token")
		}
	}
	f(oidctest.Token{Audience: "someone-else"}, fault.Denied, true, "audience")
	f(oidctest.Token{Issuer: "https://issuer.invalid"}, fault.Denied, true, "issuer")
	f(oidctest.Token{Stranger: true}, fault.Denied, true, "signature")
	f(oidctest.Token{Alg: oidctest.ES256, Stranger: true}, fault.Denied, true, "signature")
	f(oidctest.Token{Expiry: c.now().Add(-time.Second)}, fault.Denied, true, "expired")
	f(oidctest.Token{Claims: map[string]any{"repository": "other/repo"}}, fault.Denied, false, "no rule")
	// A claim of another type never matches a glob.
	f(oidctest.Token{Claims: map[string]any{"repository_owner": []string{"org"}}}, fault.Denied, false, "no rule")

	_, err := e.Exchange(context.Background(), "not-a-jwt")
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("garbage: %v", err)
	}
	// The clock moves past the ID token's expiry.
	idToken := is.Mint(t, oidctest.Token{Claims: frontendClaims()})
	c.add(11 * time.Minute)
	if _, err := e.Exchange(context.Background(), idToken); !strings.Contains(fault.Message(err), "expired") {
		t.Fatalf("later: %v", err)
	}
}

// A token signed by a key the issuer rotated in verifies after one JWKS
// refetch; the old key's tokens keep working while it is published.
func TestExchangeKeyRotation(t *testing.T) {
	is := oidctest.New(t)
	e, _ := newExchanger(t, is)
	ex := func() { frontendToken(t, is, e) }
	ex()
	ex()
	if n := is.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times before the rotation, want 1", n)
	}
	is.Rotate(t, oidctest.RS256)
	ex()
	if n := is.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times after the rotation, want 2", n)
	}
	ex()
	if n := is.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want the new key cached", n)
	}
}

// nora starts with the issuer down; the first exchange fails with
// Unavailable, and once the retry interval has passed one succeeds.
func TestExchangeLazyDiscovery(t *testing.T) {
	is := oidctest.New(t)
	is.SetDown(true)
	e, c := newExchanger(t, is)
	if n := is.DiscoveryFetches(); n != 0 {
		t.Fatalf("New contacted the issuer %d times", n)
	}
	idToken := is.Mint(t, oidctest.Token{Claims: frontendClaims()})
	for range 2 {
		if _, err := e.Exchange(context.Background(), idToken); fault.KindOf(err) != fault.Unavailable {
			t.Fatalf("issuer down: %v", err)
		}
	}
	if n := is.DiscoveryFetches(); n != 1 {
		t.Fatalf("discovery tried %d times within the retry interval, want 1", n)
	}
	is.SetDown(false)
	c.add(discoveryRetry)
	if _, err := e.Exchange(context.Background(), idToken); err != nil {
		t.Fatal(err)
	}
}

func TestExchangeTTL(t *testing.T) {
	is := oidctest.New(t)
	e, c := newExchanger(t, is)
	long := is.Mint(t, oidctest.Token{Claims: frontendClaims(), Expiry: c.now().Add(6 * time.Hour)})
	got, err := e.Exchange(context.Background(), long)
	if err != nil || got.ExpiresIn != DefaultTTL {
		t.Fatalf("expires in %v, %v; want %v", got.ExpiresIn, err, DefaultTTL)
	}
	c.add(DefaultTTL - time.Second)
	if _, err := e.Verify(got.Token); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	c.add(time.Second)
	if _, err := e.Verify(got.Token); !errors.Is(err, errExpired) {
		t.Fatalf("at expiry: %v", err)
	}
}

// A reload keeps the tokens of an unchanged provider, and ends those of a
// removed or changed one.
func TestReload(t *testing.T) {
	is := oidctest.New(t)
	e, _ := newExchanger(t, is)
	got := frontendToken(t, is, e)
	id := got.Identity
	other := auth.Provider{Name: "other", Issuer: "https://other.invalid", Audience: "x",
		Rules: []auth.ProviderRule{{Match: map[string]string{"sub": "*"}, Permissions: []string{"pull:**"}}}}
	// valid: the token verifies; current: its identity (in a registry
	// token, say) still stands.
	f := func(cfg auth.OIDCConfig, valid, current bool) {
		t.Helper()
		if err := e.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Verify(got.Token); (err == nil) != valid || e.Current(id) != current {
			t.Fatalf("after reload to %+v: verify %v, current %v", cfg, err, e.Current(id))
		}
	}
	f(auth.OIDCConfig{Providers: []auth.Provider{ciProvider(is.URL), other}}, true, true)
	f(auth.OIDCConfig{Providers: []auth.Provider{other}}, false, false)
	f(auth.OIDCConfig{Providers: []auth.Provider{ciProvider(is.URL)}}, true, true)
	narrowed := ciProvider(is.URL)
	narrowed.Rules = narrowed.Rules[1:]
	f(auth.OIDCConfig{Providers: []auth.Provider{narrowed}}, false, false)
	narrowed = ciProvider(is.URL)
	narrowed.Rules[0].Permissions = narrowed.Rules[0].Permissions[:1]
	f(auth.OIDCConfig{Providers: []auth.Provider{narrowed}}, false, false)
	// Another claim glob, the same grants: the token ends, what a
	// registry token carries of it stands until that expires.
	moved := ciProvider(is.URL)
	moved.Rules[0].Match = map[string]string{"repository": "org/*"}
	f(auth.OIDCConfig{Providers: []auth.Provider{moved}}, false, true)

	// A bad config changes nothing.
	if err := e.Reload(auth.OIDCConfig{Providers: []auth.Provider{other, other}}); err == nil {
		t.Fatal("a duplicate name reloaded")
	}
	if !e.Active() || e.providers.Load().list[0].cfg.Name != "ci" {
		t.Fatal("a failed reload changed the providers")
	}
	if err := e.Reload(auth.OIDCConfig{}); err != nil || e.Active() {
		t.Fatalf("no providers: %v, active %v", err, e.Active())
	}
}

func TestVerifyRefusesForeignAndForged(t *testing.T) {
	is := oidctest.New(t)
	e, _ := newExchanger(t, is)
	got := frontendToken(t, is, e)
	if _, err := e.Verify("nora_abc"); !errors.Is(err, auth.ErrNotMine) {
		t.Fatalf("another kind: %v", err)
	}
	payload, sig, _ := strings.Cut(strings.TrimPrefix(got.Token, Prefix), ".")
	other, err := New(auth.OIDCConfig{Providers: []auth.Provider{ciProvider(is.URL)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{
		Prefix, Prefix + payload, Prefix + payload + "." + sig[1:], Prefix + "e30." + sig,
		got.Token + "x", Prefix + strings.Repeat("a", maxToken),
	} {
		if _, err := e.Verify(tok); err == nil || errors.Is(err, auth.ErrNotMine) {
			t.Fatalf("%q: %v", tok, err)
		}
	}
	if _, err := other.Verify(got.Token); err == nil {
		t.Fatal("another exchanger's key verified the token")
	}
}

func FuzzVerify(f *testing.F) {
	e, err := New(auth.OIDCConfig{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Prefix + "e30.AAAA")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if id, err := e.Verify(tok); err == nil || id != nil {
			t.Fatalf("%q verified", tok) // no key, so nothing may verify
		}
		if _, err := e.Exchange(context.Background(), tok); err == nil {
			t.Fatalf("%q exchanged", tok)
		}
	})
}
