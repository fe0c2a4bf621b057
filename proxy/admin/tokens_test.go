package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
)

// serveTokens serves the admin API with a real token store and an audit
// log in a buffer.
func serveTokens(t *testing.T) (*Client, *auth.APITokens, *bytes.Buffer) {
	t.Helper()
	sock := shortSocket(t)
	store, err := auth.OpenAPITokens(filepath.Join(filepath.Dir(sock), "api-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var audit bytes.Buffer
	s := startServer(t, Options{Socket: sock, Tokens: store, Audit: auth.NewAuditLog(&audit)})
	return NewClient(s.Socket()), store, &audit
}

func TestTokensAPI(t *testing.T) {
	c, store, audit := serveTokens(t)
	ctx := context.Background()
	nt, err := c.CreateToken(ctx, CreateToken{Name: "laptop", Permissions: []string{"push:frontend/*"}, Expires: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	if nt.Name != "laptop" || !strings.HasPrefix(nt.Token, auth.APITokenPrefix) ||
		nt.ExpiresAt.Sub(nt.CreatedAt).Hours() != 30*24 || len(nt.Permissions) != 1 {
		t.Fatalf("created %+v", nt)
	}
	if id, err := store.Verify(nt.Token); err != nil || id.Name != "laptop" {
		t.Fatalf("the store does not know the new token: %v", err)
	}
	if _, err := c.CreateToken(ctx, CreateToken{Name: "ci", Permissions: []string{"pull:**"}}); err != nil {
		t.Fatal(err)
	}

	f := func(err error, status int, msg string) {
		t.Helper()
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Message, msg) {
			t.Errorf("got %v, want %d %q", err, status, msg)
		}
	}
	_, err = c.CreateToken(ctx, CreateToken{Name: "laptop", Permissions: []string{"pull:**"}})
	f(err, 409, `a token named "laptop" exists`)
	_, err = c.CreateToken(ctx, CreateToken{Name: "x", Permissions: []string{"write:**"}})
	f(err, 400, `unknown action "write"`)
	_, err = c.CreateToken(ctx, CreateToken{Name: "x"})
	f(err, 400, "at least one permission")
	_, err = c.CreateToken(ctx, CreateToken{Name: "x", Permissions: []string{"pull:**"}, Expires: "soon"})
	f(err, 400, "expires: cannot parse duration")
	f(c.RevokeToken(ctx, "nope"), 404, `no token named "nope"`)

	list, err := c.Tokens(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "ci" || list[1].Name != "laptop" {
		t.Fatalf("list %+v, %v", list, err)
	}
	if err := c.RevokeToken(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Verify(nt.Token); err == nil {
		t.Fatal("a revoked token verifies")
	}
	if list, _ := c.Tokens(ctx); len(list) != 1 {
		t.Fatalf("after revoke %+v", list)
	}

	// The list never holds a secret or a hash; the audit log names the
	// socket as the actor, never the token.
	resp, err := c.http.Get("http://nora/api/v1/tokens")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "sha256") || strings.Contains(string(body), auth.APITokenPrefix) {
		t.Fatalf("list: %s", body)
	}
	log := audit.String()
	if strings.Contains(log, nt.Token) || strings.Count(log, `"actor":"admin socket"`) != 7 ||
		!strings.Contains(log, `"action":"token-create","name":"laptop","result":"ok"`) ||
		!strings.Contains(log, `"action":"token-create","name":"laptop","result":"409"`) ||
		!strings.Contains(log, `"action":"token-revoke","name":"laptop","result":"ok"`) {
		t.Fatalf("audit log:\n%s", log)
	}

	// Other methods and bad bodies.
	req, _ := http.NewRequest(http.MethodPut, "http://nora/api/v1/tokens", nil)
	if resp, err := c.http.Do(req); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp, err = c.http.Post("http://nora/api/v1/tokens", "application/json", strings.NewReader(`{"name":"x","perms":["pull:**"]}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("unknown field: %v %v", resp, err)
	}
}
