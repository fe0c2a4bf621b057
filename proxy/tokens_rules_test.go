package proxy

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nora/auth"
)

// tokenAccess decodes the access list of a registry token.
func tokenAccess(t *testing.T, tok string) []auth.Access {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Access []auth.Access }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Access
}

// The registry token endpoint grants only what [[auth.rules]] allow: a
// token for frontend/* does not push backend/x, a pull-scoped token never
// pushes, and a reload that takes a user out of its group takes the push
// away from tokens issued before.
func TestTokenRules(t *testing.T) {
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, "alice", "alice-pw", "bob", "bob-pw")
	cfg := auth.Config{Htpasswd: htpasswd,
		Groups: map[string][]string{"team-frontend": {"alice"}},
		Rules: []auth.Rule{
			{Subject: "team-frontend", Permissions: []string{"push:frontend/*"}},
			{Subject: "bob", Permissions: []string{"pull:**"}},
		}}
	app, base := serveApp(t, cfg)
	host := strings.TrimPrefix(base, "http://")

	both := "repository:frontend/web:pull,push repository:backend/x:pull,push,delete"
	got := tokenAccess(t, fetchToken(t, base, "alice", "alice-pw", both))
	if len(got) != 1 || got[0].Name != "frontend/web" || !slices.Equal(got[0].Actions, []string{"pull", "push"}) {
		t.Fatalf("alice's grant for %q: %+v, want pull,push on frontend/web alone", both, got)
	}
	if got := tokenAccess(t, fetchToken(t, base, "bob", "bob-pw", both)); len(got) != 2 ||
		!slices.Equal(got[0].Actions, []string{"pull"}) || !slices.Equal(got[1].Actions, []string{"pull"}) {
		t.Fatalf("bob's grant for %q: %+v, want pull on both", both, got)
	}

	upload := func(repo, tok string) int {
		t.Helper()
		status, _ := registryCall(t, "POST", base+"/v2/"+repo+"/blobs/uploads/", "", "", tok)
		return status
	}
	frontend := fetchToken(t, base, "alice", "alice-pw", "repository:frontend/web:pull,push")
	if s := upload("frontend/web", frontend); s != 202 {
		t.Fatalf("push with alice's frontend token: %d", s)
	}
	if s := upload("backend/x", frontend); s != 401 && s != 403 {
		t.Fatalf("push to backend/x with a frontend/web token: %d", s)
	}
	if s := upload("backend/x", fetchToken(t, base, "alice", "alice-pw", "repository:backend/x:pull,push")); s != 403 {
		t.Fatalf("push to backend/x with a token asked for it: %d, want 403", s)
	}
	if s := upload("frontend/web", fetchToken(t, base, "alice", "alice-pw", "repository:frontend/web:pull")); s != 401 {
		t.Fatalf("push with a pull-scoped token: %d, want 401", s)
	}

	// The real crane: alice pushes frontend/*, not backend/x.
	tarPath := imageTar(t)
	if out, err := craneAs(t, host, "alice", "alice-pw", "push", tarPath, host+"/frontend/app:v1"); err != nil {
		t.Fatalf("crane push frontend/app: %v\n%s", err, out)
	}
	if out, err := craneAs(t, host, "alice", "alice-pw", "push", tarPath, host+"/backend/x:v1"); err == nil || !strings.Contains(out, "403 Forbidden") {
		t.Fatalf("crane push backend/x: %v\n%s", err, out)
	}

	// Out of the group: the token issued before stops pushing at once.
	next := cfg
	next.Groups = nil
	if err := app.Reload(AppConfig{Auth: &next}); err != nil {
		t.Fatal(err)
	}
	if s := upload("frontend/web", frontend); s != 403 {
		t.Fatalf("push with a token of a user the reload took out of the group: %d, want 403", s)
	}
}
