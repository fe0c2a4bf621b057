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
	// Once at first use, once for the stranger's failed signature, once
	// for the new key id.
	if n := is.JWKSFetches(); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", n)
	}
}
