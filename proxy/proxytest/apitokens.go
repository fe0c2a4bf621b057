package proxytest

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/admin"
)

// Tokens makes and revokes the API tokens of a running nora through its
// admin socket, as `nora token` does.
type Tokens struct {
	admin *admin.Client
	// Expired is the secret of a token "expired" (push:**) that expired
	// a day before the nora started.
	Expired string
}

// StartTokens is Start with an admin socket the returned Tokens talk to,
// and an expired token in the store.
func StartTokens(t testing.TB, cfg proxy.AppConfig) (*Nora, *Tokens) {
	t.Helper()
	if reflect.ValueOf(cfg.Server).IsZero() {
		cfg.Server = proxy.DefaultConfig()
	}
	if cfg.Storage.Path == "" {
		cfg.Storage.Path = t.TempDir()
	}
	expired := expiredToken(t, cfg.Storage.Path, "expired", "push:**")
	n := Start(t, cfg)
	return n, &Tokens{admin: admin.NewClient(n.AdminSocket), Expired: expired}
}

// Create makes a token named name with perms that never expires and
// returns its secret.
func (tk *Tokens) Create(t testing.TB, name string, perms ...string) string {
	t.Helper()
	nt, err := tk.admin.CreateToken(context.Background(), admin.CreateToken{Name: name, Permissions: perms})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return nt.Token
}

// Revoke revokes the token named name.
func (tk *Tokens) Revoke(t testing.TB, name string) {
	t.Helper()
	if err := tk.admin.RevokeToken(context.Background(), name); err != nil {
		t.Fatalf("revoke token %s: %v", name, err)
	}
}

// expiredToken puts a token named name with perms, expired a day ago,
// into the token store of the storage path dir and returns its secret.
func expiredToken(t testing.TB, dir, name string, perms ...string) string {
	t.Helper()
	s, err := auth.OpenAPITokens(filepath.Join(dir, auth.APITokensFile))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return time.Now().Add(-48 * time.Hour) })
	tok, _, err := s.Create(name, perms, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
