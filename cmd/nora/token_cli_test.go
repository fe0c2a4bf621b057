package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy/admin"
)

// startTokenAdmin serves the admin API with a real token store; it returns
// a config file whose storage path holds the socket, and the store.
func startTokenAdmin(t *testing.T) (string, *auth.APITokens) {
	t.Helper()
	dir, err := os.MkdirTemp("", "nora-token") // sun_path is short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	store, err := auth.OpenAPITokens(filepath.Join(dir, "api-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := admin.New(admin.Options{Socket: filepath.Join(dir, "admin.sock"), Tokens: store})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return writeConfig(t, "[storage]\npath = \""+dir+"\"\n"), store
}

func TestTokenCommands(t *testing.T) {
	config, store := startTokenAdmin(t)
	nora := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append(args, "--config", config), &stdout, &stderr, nil)
		return code, stdout.String(), stderr.String()
	}

	// create prints the token alone on stdout.
	code, out, errOut := nora("token", "create", "--name", "laptop", "--permissions", "push:frontend/*",
		"--permissions", "pull:**", "--expires", "30d")
	tok := strings.TrimSuffix(out, "\n")
	if code != 0 || strings.ContainsAny(tok, " \n") || !strings.HasPrefix(tok, auth.APITokenPrefix) ||
		!strings.Contains(errOut, "token laptop (push:frontend/*, pull:**), expires ") {
		t.Fatalf("create: exit %d\nstdout: %q\nstderr: %q", code, out, errOut)
	}
	if id, err := store.Verify(tok); err != nil || len(id.Limit) != 2 {
		t.Fatalf("the printed token: %+v, %v", id, err)
	}

	// --json: name, token, permissions, expiry.
	code, out, _ = nora("token", "create", "--name", "ci", "--permissions", "push:npm:@frontend/*", "--json")
	var nt struct {
		Name, Token string
		Permissions []string
		ExpiresAt   *string `json:"expires_at"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &nt) != nil || nt.Name != "ci" || nt.ExpiresAt != nil ||
		!strings.HasPrefix(nt.Token, auth.APITokenPrefix) || len(nt.Permissions) != 1 {
		t.Fatalf("create --json: exit %d: %s", code, out)
	}

	f := func(wantCode int, wantOut, wantErr string, args ...string) {
		t.Helper()
		code, out, errOut := nora(args...)
		if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errOut, wantErr) {
			t.Errorf("nora %s: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, %q, %q", args, code, out, errOut, wantCode, wantOut, wantErr)
		}
	}
	f(1, "", `cannot create token laptop: a token named "laptop" exists; revoke it first`,
		"token", "create", "--name", "laptop", "--permissions", "pull:**")
	f(1, "", `unknown action "write"`, "token", "create", "--name", "x", "--permissions", "write:**")
	f(1, "", `required flag(s) "permissions" not set`, "token", "create", "--name", "x")
	f(0, "ci      push:npm:@frontend/*", "", "token", "list")
	f(0, "laptop  push:frontend/*,pull:**", "", "token", "list")
	f(0, "", "revoked laptop", "token", "revoke", "laptop")
	f(1, "", `cannot revoke laptop: no token named "laptop"`, "token", "revoke", "laptop")
	if _, err := store.Verify(tok); err == nil {
		t.Fatal("a revoked token verifies")
	}
	code, out, _ = nora("token", "list", "--json")
	if code != 0 || strings.Contains(out, "laptop") || strings.Contains(out, auth.APITokenPrefix) || !strings.Contains(out, `"name": "ci"`) {
		t.Fatalf("list --json: %s", out)
	}
	// Shell completion of revoke offers the names.
	var stdout bytes.Buffer
	run(context.Background(), []string{"__complete", "token", "revoke", "--config", config, ""}, &stdout, &stdout, nil)
	if !strings.HasPrefix(stdout.String(), "ci\n:4\n") {
		t.Errorf("completion: %q", stdout.String())
	}
}
