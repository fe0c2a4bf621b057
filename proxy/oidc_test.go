package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/auth/oidc"
	"nora/auth/oidc/oidctest"
)

// oidcAuth is an [auth] whose only writers are CI jobs of is: a job of an
// org/frontend-* repository may push frontend/**.
func oidcAuth(is *oidctest.Issuer) auth.Config {
	return auth.Config{AnonymousRead: true, OIDC: auth.OIDCConfig{Providers: []auth.Provider{{
		Name: "ci", Issuer: is.URL, Audience: oidctest.DefaultAudience,
		Rules: []auth.ProviderRule{{Name: "frontend-ci", Match: map[string]string{"repository": "org/frontend-*"},
			Permissions: []string{"push:frontend/**"}}},
	}}}}
}

// imageTar writes a small random image as a tarball for crane push.
func imageTar(t *testing.T) string {
	t.Helper()
	img, err := random.Image(4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := name.ParseReference("example.invalid/img:x")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// exchange posts body to the exchange endpoint and returns the status and
// the decoded answer.
func exchange(t *testing.T, base, body string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Post(base+oidcTokenPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, m, string(raw)
}

func idTokenBody(tok string) string {
	b, _ := json.Marshal(map[string]string{"token": tok})
	return string(b)
}

// A CI job exchanges its ID token (RS256 or ES256) and pushes with the
// nora token as crane's password: within its rule's prefix only. After a
// reload that removes the provider, the token no longer pushes and the
// exchange is gone.
func TestOIDCExchangeThenPush(t *testing.T) {
	is := oidctest.New(t)
	cfg := oidcAuth(is)
	app, base := serveApp(t, cfg)
	host := strings.TrimPrefix(base, "http://")
	tarPath := imageTar(t)
	push := func(pass, repo string) error {
		t.Helper()
		out, err := craneAs(t, host, "ci", pass, "push", tarPath, host+"/"+repo+":v1")
		if err != nil {
			t.Logf("crane push to %s: %v\n%s", repo, err, out)
		}
		return err
	}
	var tokens []string
	for _, alg := range []oidctest.Alg{oidctest.RS256, oidctest.ES256} {
		idToken := is.Mint(t, oidctest.Token{Alg: alg, Claims: map[string]any{"repository": "org/frontend-web"}})
		status, m, raw := exchange(t, base, idTokenBody(idToken))
		tok, _ := m["token"].(string)
		// The ID token lives 10 minutes from its minting; a second may
		// tick between minting and exchange.
		exp, _ := m["expires_in"].(float64)
		if status != 200 || !strings.HasPrefix(tok, oidc.Prefix) || exp < 598 || exp > 600 {
			t.Fatalf("%s: exchange: %d %s", alg, status, raw)
		}
		if strings.Contains(raw, idToken) {
			t.Fatalf("%s: the answer holds the ID token", alg)
		}
		if err := push(tok, "frontend/web-"+strings.ToLower(string(alg))); err != nil {
			t.Fatalf("%s: the exchanged token cannot push its prefix", alg)
		}
		if push(tok, "backend/x") == nil {
			t.Fatalf("%s: the exchanged token pushed outside its rule", alg)
		}
		tokens = append(tokens, tok)
	}

	// Another provider stays, so that writes stay possible: the token
	// fails because its provider went.
	cfg.OIDC.Providers[0].Name = "other"
	if err := app.Reload(AppConfig{Auth: &cfg}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if push(tok, "frontend/after") == nil {
			t.Fatal("a token of a removed provider pushed")
		}
	}
	cfg.OIDC.Providers = nil
	if err := app.Reload(AppConfig{Auth: &cfg}); err != nil {
		t.Fatal(err)
	}
	if status, _, raw := exchange(t, base, idTokenBody(is.Mint(t, oidctest.Token{}))); status != 404 {
		t.Fatalf("exchange with no provider: %d %s", status, raw)
	}
}

// Refusals: 401 with a reason for a token nora does not accept, 403 for
// one no rule matches, and neither answer holds the token.
func TestOIDCExchangeRefusals(t *testing.T) {
	is := oidctest.New(t)
	_, base := serveApp(t, oidcAuth(is))
	frontend := map[string]any{"repository": "org/frontend-web"}
	f := func(tok oidctest.Token, status int, reason string) {
		t.Helper()
		if tok.Claims == nil {
			tok.Claims = frontend
		}
		idToken := is.Mint(t, tok)
		got, m, raw := exchange(t, base, idTokenBody(idToken))
		msg, _ := m["error"].(string)
		if got != status || !strings.Contains(msg, reason) {
			t.Fatalf("%+v: %d %s, want %d %q", tok, got, raw, status, reason)
		}
		if strings.Contains(raw, idToken) || strings.Contains(raw, strings.Split(idToken, ".")[2]) {
			t.Fatalf("%+v: the answer holds the token", tok)
		}
	}
	f(oidctest.Token{Audience: "other"}, 401, "audience")
	f(oidctest.Token{Issuer: "https://issuer.invalid"}, 401, "issuer")
	f(oidctest.Token{Expiry: time.Now().Add(-time.Minute)}, 401, "expired")
	f(oidctest.Token{Alg: oidctest.ES256, Stranger: true}, 401, "signature")
	f(oidctest.Token{Claims: map[string]any{"repository": "org/backend"}}, 403, "no rule")

	g := func(method, body string, status int) {
		t.Helper()
		req, _ := http.NewRequest(method, base+oidcTokenPath, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s %.20q: %d, want %d", method, body, resp.StatusCode, status)
		}
	}
	g("GET", "", 405)
	g("POST", "not json", 400)
	g("POST", `{"token": ""}`, 400)
	g("POST", idTokenBody(strings.Repeat("a", maxOIDCRequest)), 413)
	resp, err := http.Post(base+oidcTokenPath+"/x", "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("another path: %d", resp.StatusCode)
	}
}

// The audit log has the exchange, under the actor the token will carry,
// and the refusals. No log or audit line of the exchange holds the ID
// token (or its signature) or the nora token it issued, whether the
// exchange succeeds or not.
func TestOIDCLogsNoToken(t *testing.T) {
	is := oidctest.New(t)
	cfg := oidcAuth(is)
	ex, err := oidc.New(cfg.OIDC, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &oidcHandler{ex: ex, base: context.Background(), audit: auth.NewAuditLog(&logs),
		log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var secrets []string
	for _, tok := range []oidctest.Token{
		{Claims: map[string]any{"repository": "org/frontend-web"}},
		{Claims: map[string]any{"repository": "org/backend"}},
		{Audience: "other"},
		{Stranger: true},
		{Expiry: time.Now().Add(-time.Minute)},
	} {
		idToken := is.Mint(t, tok)
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI(oidcTokenPath)
		ctx.Request.SetBodyString(idTokenBody(idToken))
		h.serve(&ctx)
		var m map[string]string
		json.Unmarshal(ctx.Response.Body(), &m)
		secrets = append(secrets, idToken, strings.Split(idToken, ".")[2])
		if m["token"] != "" {
			secrets = append(secrets, m["token"])
		}
	}
	for _, want := range []string{
		`"actor":"oidc ci repository=org/frontend-web","action":"token-create"`,
		`"actor":"oidc","action":"login-failed"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no audit line with %s:\n%s", want, logs.String())
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("a token is in the log:\n%s", logs.String())
		}
	}
}

// With the issuer down at first use, the exchange answers 503 with
// Retry-After, and nora serves on.
func TestOIDCIssuerDown(t *testing.T) {
	is := oidctest.New(t)
	is.SetDown(true)
	_, base := serveApp(t, oidcAuth(is))
	resp, err := http.Post(base+oidcTokenPath, "application/json",
		strings.NewReader(idTokenBody(is.Mint(t, oidctest.Token{Claims: map[string]any{"repository": "org/frontend-web"}}))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("issuer down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// The issuer rotates its key and retires the old one: a token of the new
// key exchanges (nora refetches the keys for the unknown key id), one of
// the old key no longer does.
func TestOIDCKeyRotation(t *testing.T) {
	is := oidctest.New(t)
	_, base := serveApp(t, oidcAuth(is))
	frontend := oidctest.Token{Claims: map[string]any{"repository": "org/frontend-web"}}
	old := is.Mint(t, frontend)
	if status, _, raw := exchange(t, base, idTokenBody(old)); status != 200 {
		t.Fatalf("before the rotation: %d %s", status, raw)
	}
	is.Rotate(t, oidctest.RS256)
	is.Retire()
	if status, _, raw := exchange(t, base, idTokenBody(is.Mint(t, frontend))); status != 200 {
		t.Fatalf("new key: %d %s", status, raw)
	}
	if status, _, raw := exchange(t, base, idTokenBody(old)); status != 401 {
		t.Fatalf("retired key: %d %s", status, raw)
	}
}
