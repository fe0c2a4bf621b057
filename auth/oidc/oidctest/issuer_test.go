package oidctest

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// The tokens the issuer mints verify with go-oidc, the library nora uses,
// before and after a rotation; a stranger's signature does not.
func TestIssuerTokensVerify(t *testing.T) {
	is := New(t)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, is.URL)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: DefaultAudience})
	f := func(tok Token, ok bool) {
		t.Helper()
		_, err := v.Verify(ctx, is.Mint(t, tok))
		if (err == nil) != ok {
			t.Fatalf("%+v: verify err = %v, want ok %v", tok, err, ok)
		}
	}
	f(Token{Alg: RS256, Claims: map[string]any{"repository": "org/app"}}, true)
	f(Token{Alg: ES256}, true)
	f(Token{Alg: ES256, Stranger: true}, false)
	f(Token{Audience: "other"}, false)
	is.Rotate(t, RS256)
	f(Token{Alg: RS256}, true)
	// Once at first use, then for the stranger's failed signature and for
	// the new key id (go-oidc may serve the second from the first fetch's
	// tail when they come close together).
	if n := is.JWKSFetches(); n < 2 {
		t.Fatalf("JWKS fetched %d times, want a refetch", n)
	}
}
