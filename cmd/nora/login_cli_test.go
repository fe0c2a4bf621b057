package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeJWT is a JWT-shaped token with the claims given; nora login does not
// check signatures, nora does.
func fakeJWT(claims string) string {
	b := base64.RawURLEncoding.EncodeToString
	return b([]byte(`{"alg":"RS256"}`)) + "." + b([]byte(claims)) + ".c2ln"
}

// loginServerFake answers GitHub's ID-token request at /idtoken and nora's
// exchange at /auth/oidc/token: the exchange wants exactly idToken, and
// answers with noraToken, or with status and an error that quotes the ID
// token.
type loginServerFake struct {
	*httptest.Server
	idToken, noraToken string
	status             atomic.Int32 // of the exchange
	unavailable        atomic.Int32 // exchanges still to answer 503
	exchanges          atomic.Int32 // answered so far

	mu        sync.Mutex
	audiences []string // asked of /idtoken
}

// gotAudience returns the audiences asked of the token request so far.
func (f *loginServerFake) gotAudience() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audiences)
}

func newLoginServerFake(t *testing.T) *loginServerFake {
	f := &loginServerFake{
		idToken:   fakeJWT(`{"iss":"https://issuer.test","sub":"repo:acme/app:ref:refs/heads/main"}`),
		noraToken: "norao_secret-nora-token",
	}
	f.status.Store(200)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /idtoken", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer request-token" || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad request token", 401)
			return
		}
		f.mu.Lock()
		f.audiences = append(f.audiences, r.URL.Query()["audience"]...)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"value": f.idToken})
	})
	mux.HandleFunc("POST /auth/oidc/token", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Token string }
		json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		if body.Token != f.idToken || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "wrong body"})
			return
		}
		f.exchanges.Add(1)
		if f.unavailable.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": "the issuer cannot be reached"})
			return
		}
		if status := int(f.status.Load()); status != 200 {
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"error": "no rule matches the token " + body.Token})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"token": f.noraToken, "expires_in": 900})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// githubEnv is a GitHub Actions job's environment with the token request
// served by f.
func (f *loginServerFake) githubEnv(home string) []string {
	return []string{"HOME=" + home, "GITHUB_ACTIONS=true",
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + f.URL + "/idtoken?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=request-token"}
}

func runLoginCLI(env []string, args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), append([]string{"login"}, args...), &out, &out, env)
	return code, out.String()
}

func TestLoginGitHubActions(t *testing.T) {
	f := newLoginServerFake(t)
	home := t.TempDir()
	code, out := runLoginCLI(f.githubEnv(home), "--server", f.URL+"/", "--write", "docker,npm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	// The audience defaults to the server URL; --audience names another.
	if !slices.Equal(f.gotAudience(), []string{f.URL}) {
		t.Fatalf("audience %q, want %q", f.gotAudience(), f.URL)
	}
	for _, want := range []string{"ID token from GitHub Actions: issuer https://issuer.test, subject repo:acme/app:ref:refs/heads/main",
		"nora token valid for 15m0s", filepath.Join(home, ".docker", "config.json"), filepath.Join(home, ".npmrc")} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, f.idToken) || strings.Contains(out, f.noraToken) {
		t.Fatalf("output shows a token:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(home, ".m2")); err == nil {
		t.Fatal("--write docker,npm wrote Maven's settings")
	}
	if b, _ := os.ReadFile(filepath.Join(home, ".npmrc")); !strings.Contains(string(b), f.noraToken) {
		t.Fatalf(".npmrc: %s", b)
	}
	if code, out := runLoginCLI(f.githubEnv(home), "--server", f.URL, "--audience", "aud 1&x", "--write", "npm"); code != 0 || !slices.Equal(f.gotAudience(), []string{f.URL, "aud 1&x"}) {
		t.Fatalf("--audience: exit %d, audience %q: %s", code, f.gotAudience(), out)
	}
}

func TestLoginIDTokenFromVariableOrFile(t *testing.T) {
	f := newLoginServerFake(t)
	home := t.TempDir()
	file := filepath.Join(home, "id-token")
	os.WriteFile(file, []byte(f.idToken+"\n"), 0o600)
	env := []string{"HOME=" + home, "GITLAB_CI=true", "OIDC_TOKEN=" + f.idToken}
	for _, args := range [][]string{{"--id-token-env", "OIDC_TOKEN"}, {"--id-token-file", file}} {
		code, out := runLoginCLI(env, append([]string{"--server", f.URL, "--write", "cargo"}, args...)...)
		if code != 0 || !strings.Contains(out, "credentials.toml") {
			t.Fatalf("%v: exit %d: %s", args, code, out)
		}
	}
	if len(f.gotAudience()) != 0 {
		t.Fatal("asked GitHub although a variable or file was named")
	}
}

func TestLoginErrors(t *testing.T) {
	f := newLoginServerFake(t)
	home := t.TempDir()
	fail := func(env []string, want string, args ...string) {
		t.Helper()
		code, out := runLoginCLI(env, args...)
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("%v: exit %d, want the error %q:\n%s", args, code, want, out)
		}
		for _, secret := range []string{f.idToken, f.noraToken, "request-token"} {
			if strings.Contains(out, secret) {
				t.Fatalf("%v: the output shows a token:\n%s", args, out)
			}
		}
		if entries, _ := os.ReadDir(home); len(entries) > 0 {
			t.Fatalf("%v: a failed login wrote %v", args, entries)
		}
	}
	srv := []string{"--server", f.URL}
	plain := []string{"HOME=" + home}
	fail(plain, "--id-token-env or --id-token-file", srv...)
	fail([]string{"HOME=" + home, "GITHUB_ACTIONS=true"}, "id-token: write", srv...)
	fail([]string{"HOME=" + home, "GITLAB_CI=true"}, "id_tokens:", srv...)
	fail(plain, "OIDC_TOKEN: the variable is unset or empty", append(srv, "--id-token-env", "OIDC_TOKEN")...)
	fail([]string{"HOME=" + home, "OIDC_TOKEN=not-a-jwt"}, "not a JWT", append(srv, "--id-token-env", "OIDC_TOKEN")...)
	fail(plain, "no such file", append(srv, "--id-token-file", filepath.Join(t.TempDir(), "none"))...)
	fail(plain, "required flag", "--id-token-env", "X")
	fail(plain, "want nora's base URL", "--server", "nora.test")
	fail(plain, "no user, query or fragment", "--server", "https://u:p@nora.test")
	fail(plain, `--write "gradle"`, append(srv, "--write", "npm,gradle")...)
	fail(append(f.githubEnv(home)[1:], "HOME="+home, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=wrong"), "cannot get the ID token from GitHub Actions: 401", srv...)
	f.status.Store(401)
	fail(f.githubEnv(home), "nora refused the ID token: 401 Unauthorized: no rule matches the token [ID token]", srv...)
	f.status.Store(403)
	fail(f.githubEnv(home), "403 Forbidden", srv...)
	fail(f.githubEnv(home), "404 Not Found (does this nora have [[auth.oidc.providers]]", "--server", f.URL+"/elsewhere")
}

// TestLoginRetriesUnavailable: a 503 (nora's issuer briefly unreachable)
// is tried again after its Retry-After, a few times only.
func TestLoginRetriesUnavailable(t *testing.T) {
	f := newLoginServerFake(t)
	home := t.TempDir()
	f.unavailable.Store(2)
	if code, out := runLoginCLI(f.githubEnv(home), "--server", f.URL, "--write", "npm"); code != 0 || f.exchanges.Load() != 3 {
		t.Fatalf("exit %d after %d exchanges: %s", code, f.exchanges.Load(), out)
	}
	f.exchanges.Store(0)
	f.unavailable.Store(100)
	code, out := runLoginCLI(f.githubEnv(home), "--server", f.URL, "--write", "npm")
	if code == 0 || f.exchanges.Load() != exchangeAttempts || !strings.Contains(out, "503 Service Unavailable: the issuer cannot be reached") {
		t.Fatalf("exit %d after %d exchanges: %s", code, f.exchanges.Load(), out)
	}
}

func TestGitHubIDTokenRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Write([]byte(`{"count":1,"value":"a.b.c"}`))
	}))
	defer srv.Close()
	tok, err := githubIDToken(context.Background(), srv.Client(), srv.URL+"/t?api-version=2.0", "rt", "https://nora.test:4000/x")
	if err != nil || tok != "a.b.c" {
		t.Fatalf("%q, %v", tok, err)
	}
	if got.Header.Get("Authorization") != "bearer rt" || got.URL.Query().Get("audience") != "https://nora.test:4000/x" ||
		got.URL.Query().Get("api-version") != "2.0" || !strings.Contains(got.URL.RawQuery, "audience=https%3A%2F%2Fnora.test%3A4000%2Fx") {
		t.Fatalf("request %s %v", got.URL, got.Header)
	}
	// An unreachable token service: the error does not repeat its URL.
	_, err = githubIDToken(context.Background(), srv.Client(), "http://127.0.0.1:1/t?sig=secret", "rt", "")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v", err)
	}
}
