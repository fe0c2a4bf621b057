package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func scopeString(as []Access) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, " ")
}

func TestParseScope(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := ParseScope(in)
		if want == "error" {
			if err == nil || !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("ParseScope(%q) = %v, %v; want an invalid scope", in, got, err)
			}
			return
		}
		if err != nil || scopeString(got) != want {
			t.Fatalf("ParseScope(%q) = %q, %v; want %q", in, scopeString(got), err, want)
		}
	}
	f("repository:team/app:pull", "repository:team/app:pull")
	f("repository:team/app:pull,push", "repository:team/app:pull,push")
	f("repository:app:push,pull,push", "repository:app:push,pull")
	f("repository:app:*", "repository:app:*")
	f("repository:localhost:5000/app:pull", "repository:localhost:5000/app:pull")
	f("repository(plugin):vieux/sshfs:pull", "repository:vieux/sshfs:pull")
	f("registry:catalog:*", "registry:catalog:*")
	f("repository:a:pull repository:b:push", "repository:a:pull repository:b:push")
	f("  repository:a:pull  ", "repository:a:pull")
	f("", "")
	f("repository", "error")
	f("repository:app", "error")
	f("repository::pull", "error")
	f("repository:app:", "error")
	f(":app:pull", "error")
	f("repository:app:pull,", "error")
	f("repository:app:PULL", "error")
	f("repo\"sitory:app:pull", "error")
	f("repository:app:pu\"ll", "error")
	f("repository:"+strings.Repeat("a", 257)+":pull", "error")
}

// rules lets "ci" do anything but delete, "reader" pull, and anonymous
// pull outside "private/".
type rules struct{ writes bool }

func (rules) Authenticate(string, string) (*Identity, error) { return nil, ErrBadCredentials }
func (r rules) WritesEnabled() bool                          { return r.writes }
func (rules) Allowed(id *Identity, a Action, format, name string) bool {
	switch {
	case format != "docker":
		return false
	case id == nil:
		return a == Pull && !strings.HasPrefix(name, "private/")
	case id.Name == "ci":
		return a != Delete
	}
	return a == Pull
}

func TestGrant(t *testing.T) {
	f := func(writes bool, user, scopes, want string) {
		t.Helper()
		var id *Identity
		if user != "" {
			id = &Identity{Name: user}
		}
		req, err := ParseScope(scopes)
		if err != nil {
			t.Fatal(err)
		}
		if got := scopeString(Grant(rules{writes}, id, "docker", req)); got != want {
			t.Fatalf("Grant(%q, %q) = %q, want %q", user, scopes, got, want)
		}
	}
	f(true, "ci", "repository:app:pull,push", "repository:app:pull,push")
	f(true, "ci", "repository:app:push,pull", "repository:app:pull,push")
	f(true, "ci", "repository:app:*", "repository:app:pull,push")
	f(true, "ci", "repository:app:delete", "")
	f(true, "ci", "repository:app:pull repository:app:push", "repository:app:pull,push")
	f(true, "ci", "repository:a:pull repository:b:pull,push", "repository:a:pull repository:b:pull,push")
	f(false, "ci", "repository:app:pull,push", "repository:app:pull")
	f(true, "reader", "repository:app:pull,push", "repository:app:pull")
	f(true, "", "repository:app:pull,push", "repository:app:pull")
	f(true, "", "repository:private/app:pull", "")
	f(true, "", "repository:app:frobnicate", "")
	f(true, "", "registry:catalog:*", "registry:catalog:*")
	f(true, "", "registry:catalog:pull", "")
	f(true, "", "registry:other:*", "")
	f(true, "ci", "plugin:app:pull", "")
	f(true, "ci", "", "")
}

// testTokens returns Tokens whose clock the test moves.
func testTokens(t *testing.T, ttl time.Duration) (*Tokens, *time.Time) {
	t.Helper()
	tk, err := NewTokens(ttl)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	tk.now = func() time.Time { return now }
	return tk, &now
}

func TestTokens(t *testing.T) {
	tk, now := testTokens(t, 0)
	if tk.TTL() != DefaultTokenTTL {
		t.Fatalf("TTL %v", tk.TTL())
	}
	access := []Access{{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}}
	tok, c, err := tk.Issue(&Identity{Name: "ci"}, access)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ExpiresAt.Equal(now.Add(DefaultTokenTTL)) || !c.IssuedAt.Equal(*now) {
		t.Fatalf("claims %+v", c)
	}
	got, err := tk.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity().Name != "ci" || !got.Allows("repository", "team/app", Push) || got.Allows("repository", "team/app", Delete) ||
		got.Allows("repository", "team/other", Pull) || got.Allows("registry", "team/app", Pull) {
		t.Fatalf("verified claims %+v", got)
	}
	anon, _, err := tk.Issue(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tk.Verify(anon); err != nil || c.Identity() != nil || len(c.Access) != 0 {
		t.Fatalf("anonymous token: %+v %v", c, err)
	}

	f := func(what, tok string, want error) {
		t.Helper()
		if c, err := tk.Verify(tok); !errors.Is(err, want) {
			t.Fatalf("%s: Verify = %+v, %v; want %v", what, c, err, want)
		}
	}
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"pull","push"`, `"pull","push","delete"`, 1)
	f("changed claims", parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte(forged))+"."+parts[2], ErrInvalidToken)
	f("flipped signature byte", tok[:len(tok)-2]+string(tok[len(tok)-2]^1)+tok[len(tok)-1:], ErrInvalidToken)
	f("no signature", parts[0]+"."+parts[1]+".", ErrInvalidToken)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	f("alg none", none+"."+parts[1]+".", ErrInvalidToken)
	f("two parts", parts[0]+"."+parts[1], ErrInvalidToken)
	f("four parts", tok+"."+parts[2], ErrInvalidToken)
	f("empty", "", ErrInvalidToken)
	f("garbage", "not a token", ErrInvalidToken)
	f("too long", tok+strings.Repeat("a", maxTokenBytes), ErrInvalidToken)
	other, _ := NewTokens(0)
	if _, err := other.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another key accepted the token: %v", err)
	}

	*now = now.Add(DefaultTokenTTL - time.Second)
	f("one second before expiry", tok, nil)
	*now = now.Add(time.Second)
	f("at expiry", tok, ErrTokenExpired)
	*now = now.Add(-DefaultTokenTTL - 2*time.Minute)
	f("clock stepped back", tok, ErrTokenExpired)
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull,push", "registry:catalog:*", "repository(plugin):x:pull", "a:b:c d:e:f", "::", "repository:h:5000/x:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseScope(s)
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Type == "" || a.Name == "" || len(a.Actions) == 0 || strings.ContainsAny(a.Type+a.Name, " \t\n") {
				t.Fatalf("ParseScope(%q) accepted %+v", s, a)
			}
			// The scope form parses back to itself.
			back, err := ParseScope(a.String())
			if err != nil || len(back) != 1 || back[0].String() != a.String() {
				t.Fatalf("%q does not round-trip: %v %v", a.String(), back, err)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	tk, _ := NewTokens(time.Hour)
	tok, _, _ := tk.Issue(&Identity{Name: "ci"}, []Access{{Type: "repository", Name: "a", Actions: []string{"pull"}}})
	f.Add(tok)
	f.Add(tok[:len(tok)-3])
	f.Add(jwtHeader + ".e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(s)
		if err == nil && s != tok {
			// Only an HMAC collision, or a base64 variant of the real
			// token's signature, could get here.
			if c.Subject != "ci" {
				t.Fatalf("Verify accepted a forged token %q: %+v", s, c)
			}
		}
	})
}
