package auth_test

import (
	"context"
	"strings"
	"testing"

	"nora/auth"
	"nora/cache/cachetest"
)

// Instances on one store sign with one key: a token issued by one passes
// on the other; an instance on another store refuses it.
func TestSharedTokensPassOnEveryInstance(t *testing.T) {
	ctx := context.Background()
	_, store := cachetest.OpenStore(t, t.TempDir())
	a, err := auth.NewSharedTokens(ctx, store, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.NewSharedTokens(ctx, store, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Issue(&auth.Identity{Name: "ci"}, []auth.Access{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := b.Verify(tok); err != nil || c.Subject != "ci" {
		t.Fatalf("the other instance: %+v, %v", c, err)
	}
	_, other := cachetest.OpenStore(t, t.TempDir())
	c, err := auth.NewSharedTokens(ctx, other, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(tok); err == nil {
		t.Fatal("an instance of another store took the token")
	}
	if err := store.Put(ctx, "state/registry-token-key", strings.NewReader("short")); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewSharedTokens(ctx, store, 0); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a damaged key: %v", err)
	}
}
