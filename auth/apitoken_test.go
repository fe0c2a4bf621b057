package auth

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"nora/internal/fault"
)

func openTokens(t *testing.T, file string, now *time.Time) *APITokens {
	t.Helper()
	s, err := OpenAPITokens(file)
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return *now })
	return s
}

func TestAPITokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api-tokens.json")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := openTokens(t, file, &now)
	if s.Active() {
		t.Fatal("an empty store is active")
	}
	tok, info, err := s.Create("laptop", []string{"push:frontend/*"}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, APITokenPrefix) || len(tok) != len(APITokenPrefix)+52 {
		t.Fatalf("token %q", tok)
	}
	if info.Name != "laptop" || !info.CreatedAt.Equal(now) || !info.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("info %+v", info)
	}
	ci, _, err := s.Create("ci", []string{"pull:**", "push:npm:@frontend/*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Active() {
		t.Fatal("a store with tokens is not active")
	}

	// On disk: the hash and never the token, mode 0600.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), tok) || strings.Contains(string(b), strings.TrimPrefix(ci, APITokenPrefix)) ||
		!strings.Contains(string(b), info.Name) {
		t.Fatalf("token file:\n%s", b)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}

	id, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "laptop" || id.Kind != APIToken || !reflect.DeepEqual(id.Subjects, []string{"laptop"}) ||
		id.Actor != "token laptop" || len(id.Limit) != 1 || id.Limit[0].String() != "push:frontend/*" || !s.Current(id) {
		t.Fatalf("identity %+v", id)
	}
	f := func(tok string, want error) {
		t.Helper()
		if _, err := s.Verify(tok); !errors.Is(err, want) {
			t.Errorf("Verify(%q): %v, want %v", tok, err, want)
		}
	}
	f("secret", ErrNotMine)
	f("eyJhbGciOi.x.y", ErrNotMine)
	f(tok+"a", ErrUnknownAPIToken)
	f(APITokenPrefix, ErrUnknownAPIToken)

	// Reload from disk: the same tokens, the same identities.
	s2 := openTokens(t, file, &now)
	if !reflect.DeepEqual(s2.List(), s.List()) || len(s2.List()) != 2 {
		t.Fatalf("reloaded %+v, want %+v", s2.List(), s.List())
	}
	if id2, err := s2.Verify(tok); err != nil || !s2.Current(id) || !reflect.DeepEqual(id2, id) {
		t.Fatalf("reloaded identity %+v, %v", id2, err)
	}

	// Expiry, by the clock.
	now = now.Add(30 * 24 * time.Hour)
	f(tok, ErrTokenExpired)
	if s.Current(id) {
		t.Fatal("an expired token is current")
	}
	if _, err := s.Verify(ci); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}

	// Revocation: at once, on disk too; a new token of the same name does
	// not revive the old one's identity.
	if err := s.Revoke("ci"); err != nil {
		t.Fatal(err)
	}
	f(ci, ErrUnknownAPIToken)
	if err := s.Revoke("ci"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if got := openTokens(t, file, &now).List(); len(got) != 1 || got[0].Name != "laptop" {
		t.Fatalf("after revoke, on disk: %+v", got)
	}
	if s.Active() {
		t.Fatal("a store of expired tokens is active")
	}
	if err := s.Revoke("laptop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create("laptop", []string{"push:frontend/*"}, 0); err != nil {
		t.Fatal(err)
	}
	if s.Current(id) {
		t.Fatal("a re-created name revived the old token")
	}
}

func TestAPITokensCreateRefusals(t *testing.T) {
	now := time.Now()
	s := openTokens(t, filepath.Join(t.TempDir(), "t.json"), &now)
	if _, _, err := s.Create("a", []string{"pull:**"}, 0); err != nil {
		t.Fatal(err)
	}
	f := func(name string, perms []string, ttl time.Duration, want fault.Kind) {
		t.Helper()
		if _, _, err := s.Create(name, perms, ttl); !errors.Is(err, want) {
			t.Errorf("Create(%q, %q, %v): %v, want %v", name, perms, ttl, err, want)
		}
	}
	f("a", []string{"pull:**"}, 0, fault.Conflict)
	f("b", nil, 0, fault.Invalid)
	f("b", []string{"write:x"}, 0, fault.Invalid)
	f("b", []string{"push:"}, 0, fault.Invalid)
	f("b", []string{"pull:**"}, -time.Second, fault.Invalid)
	f("", []string{"pull:**"}, 0, fault.Invalid)
	f("-x", []string{"pull:**"}, 0, fault.Invalid)
	f("a/b", []string{"pull:**"}, 0, fault.Invalid)
	f(strings.Repeat("x", 65), []string{"pull:**"}, 0, fault.Invalid)
	if got := s.List(); len(got) != 1 {
		t.Fatalf("refused creations stored: %+v", got)
	}
}

func TestAPITokensBrokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(file, []byte("{"), 0o600)
	if _, err := OpenAPITokens(file); err == nil {
		t.Fatal("a broken file was accepted")
	}
}

// TestTokensCarryIdentity: a registry token stands for the identity it
// was issued to, kind, subjects, limit and generation included.
func TestTokensCarryIdentity(t *testing.T) {
	now := time.Now()
	s := openTokens(t, filepath.Join(t.TempDir(), "t.json"), &now)
	text, _, err := s.Create("laptop", []string{"push:frontend/*", "pull:npm:**"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := NewTokens(0)
	if err != nil {
		t.Fatal(err)
	}
	f := func(id *Identity) {
		t.Helper()
		tok, _, err := tk.Issue(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tk.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Identity(); !reflect.DeepEqual(got, id) {
			t.Errorf("identity %+v, want %+v", got, id)
		}
	}
	id, err := s.Verify(text)
	if err != nil {
		t.Fatal(err)
	}
	f(id)
	f(nil)
	f(&Identity{Name: "alice", Subjects: []string{"alice", "devs"}, Actor: "alice", gen: 3})
	f(&Identity{Name: "gh", Kind: OIDC, Subjects: []string{"main"}, Limit: []Permission{}, Actor: "oidc gh repository=a/b"})
}

// FuzzAPITokenVerify: whatever a client sends, Verify does not panic, and
// only the token itself verifies.
func FuzzAPITokenVerify(f *testing.F) {
	s, err := OpenAPITokens(filepath.Join(f.TempDir(), "t.json"))
	if err != nil {
		f.Fatal(err)
	}
	tok, _, err := s.Create("a", []string{"pull:**"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{tok, tok[:len(tok)-1], APITokenPrefix, "password", tok + tok, strings.ToUpper(tok)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, err := s.Verify(in)
		if (err == nil) != (in == tok) || (err == nil && id.Name != "a") {
			t.Fatalf("Verify(%q): %+v, %v", in, id, err)
		}
		if !strings.HasPrefix(in, APITokenPrefix) && !errors.Is(err, ErrNotMine) {
			t.Fatalf("Verify(%q) claimed a token of another kind: %v", in, err)
		}
	})
}
