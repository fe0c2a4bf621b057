package proxy

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
	"nora/cache"
)

func TestAppReload(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	os.WriteFile(htpasswd, []byte("a:"+string(hash)+"\n"), 0o600)
	storage := cache.DefaultConfig()
	storage.Path = filepath.Join(dir, "data")
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	cfg := AppConfig{Server: server, Storage: storage, Auth: &auth.Config{Htpasswd: htpasswd}}
	app, err := NewApp(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.ln.Close()
	defer app.close()
	known := func(user string) bool {
		_, err := app.auth.Authenticate(user, "pw")
		return err == nil
	}
	if !known("a") || known("b") {
		t.Fatal("wrong users before reload")
	}
	os.WriteFile(htpasswd, []byte("b:"+string(hash)+"\n"), 0o600)
	if err := app.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if known("a") || !known("b") {
		t.Fatal("reload did not replace the users")
	}
	os.WriteFile(htpasswd, []byte("broken\n"), 0o600)
	if err := app.Reload(cfg); err == nil {
		t.Fatal("broken htpasswd accepted")
	}
	if !known("b") {
		t.Fatal("failed reload dropped the users")
	}
}

// writeUsers writes an htpasswd file of user, password pairs.
func writeUsers(t *testing.T, path string, userPass ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(userPass); i += 2 {
		hash, err := bcrypt.GenerateFromPassword([]byte(userPass[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(userPass[i] + ":" + string(hash) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveApp runs an App on loopback until t ends and returns it with its
// base URL.
func serveApp(t *testing.T, authCfg auth.Config) (*App, string) {
	t.Helper()
	storage := cache.DefaultConfig()
	storage.Path = t.TempDir()
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	app := runApp(t, AppConfig{Server: server, Storage: storage, Auth: &authCfg}, nil)
	return app, "http://" + app.Addr().String()
}

// registryCall sends one request; user "" sends no Basic credentials, tok
// "" no bearer token.
func registryCall(t *testing.T, method, u, user, pass, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// fetchToken asks /auth/token for scope, as user ("" anonymously).
func fetchToken(t *testing.T, base, user, pass, scope string) string {
	t.Helper()
	status, body := registryCall(t, "GET", base+"/auth/token?service=nora&scope="+url.QueryEscape(scope), user, pass, "")
	var tr struct{ Token string }
	if status != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.Token == "" {
		t.Fatalf("token for %q: %d %s", user, status, body)
	}
	return tr.Token
}

// craneAs runs the real crane with a docker config holding user's login.
func craneAs(t *testing.T, host, user, pass string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("crane")
	if err != nil {
		t.Fatalf("crane is not installed (.ci/run installs it): %v", err)
	}
	home := t.TempDir()
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	os.WriteFile(filepath.Join(home, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+cred+`"}}}`), 0o600)
	cmd := exec.Command(path, append([]string{"--insecure"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "DOCKER_CONFIG=" + home}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestReloadRevokes removes a user and changes another's password, then
// reloads: the removed user's token minted before, its cached Basic login
// and the old password stop working at once, through the real crane and
// raw API calls; anonymous pull tokens and unchanged users keep working.
func TestReloadRevokes(t *testing.T) {
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, "alice", "alice-pw", "bob", "bob-pw", "carol", "carol-pw")
	authCfg := auth.Config{AnonymousRead: true, Htpasswd: htpasswd}
	app, base := serveApp(t, authCfg)
	host := strings.TrimPrefix(base, "http://")
	tarPath := imageTar(t)
	push := func(user, pass, repo string) error {
		t.Helper()
		out, err := craneAs(t, host, user, pass, "push", tarPath, host+"/"+repo+":v1")
		if err != nil {
			t.Logf("crane push as %s to %s: %v\n%s", user, repo, err, out)
		}
		return err
	}
	catalog := func() string {
		t.Helper()
		status, body := registryCall(t, "GET", base+"/v2/_catalog", "", "", fetchToken(t, base, "", "", "registry:catalog:*"))
		if status != 200 {
			t.Fatalf("catalog: %d %s", status, body)
		}
		return body
	}

	// Before: everyone pushes; alice's Basic login and bob's are cached
	// by the pushes and the raw calls.
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := push(u, u+"-pw", "team/"+u); err != nil {
			t.Fatalf("push as %s before the reload", u)
		}
	}
	stolen := fetchToken(t, base, "alice", "alice-pw", "repository:team/stolen:pull,push")
	bobTok := fetchToken(t, base, "bob", "bob-pw", "repository:team/bob2:pull,push")
	anonTok := fetchToken(t, base, "", "", "repository:team/alice:pull")
	if status, body := registryCall(t, "GET", base+"/v2/", "alice", "alice-pw", ""); status != 200 {
		t.Fatalf("alice's Basic ping: %d %s", status, body)
	}

	writeUsers(t, htpasswd, "bob", "bob-new", "carol", "carol-pw")
	if err := app.Reload(AppConfig{Auth: &authCfg}); err != nil {
		t.Fatal(err)
	}

	refused := func(what string, status int, body string) {
		t.Helper()
		var e struct {
			Errors []struct{ Code, Message string }
		}
		if (status != 401 && status != 403) || json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code == "" {
			t.Fatalf("%s after the reload: %d %s, want a 401 or 403 in the OCI error shape", what, status, body)
		}
	}
	status, body := registryCall(t, "POST", base+"/v2/team/stolen/blobs/uploads/", "", "", stolen)
	refused("the removed user's token pushing", status, body)
	status, body = registryCall(t, "POST", base+"/v2/team/bob2/blobs/uploads/", "", "", bobTok)
	refused("a token minted before the password changed", status, body)
	status, body = registryCall(t, "POST", base+"/v2/team/stolen/blobs/uploads/", "alice", "alice-pw", "")
	refused("the removed user's cached Basic login", status, body)
	status, body = registryCall(t, "POST", base+"/v2/team/bob2/blobs/uploads/", "bob", "bob-pw", "")
	refused("the old password's cached Basic login", status, body)
	if status, _ := registryCall(t, "GET", base+"/auth/token?service=nora&scope=repository:team/stolen:push", "alice", "alice-pw", ""); status != 401 {
		t.Fatalf("a token for the removed user: %d", status)
	}
	if push("alice", "alice-pw", "team/stolen") == nil || push("bob", "bob-pw", "team/bob2") == nil {
		t.Fatal("crane pushed with revoked credentials")
	}
	if c := catalog(); strings.Contains(c, "team/stolen") || strings.Contains(c, "team/bob2") {
		t.Fatalf("a refused push created a repository: %s", c)
	}

	// Unchanged users, new passwords and anonymous pulls carry on.
	if push("bob", "bob-new", "team/bob3") != nil || push("carol", "carol-pw", "team/carol2") != nil {
		t.Fatal("push with current credentials after the reload")
	}
	if status, body := registryCall(t, "GET", base+"/v2/team/alice/tags/list", "", "", anonTok); status != 200 {
		t.Fatalf("anonymous pull token after the reload: %d %s", status, body)
	}
}

// TestReloadAnonymousRead turns anonymous_read off and on again on a
// serving App: anonymous pulls are refused, then allowed, at once.
func TestReloadAnonymousRead(t *testing.T) {
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, "alice", "alice-pw")
	cfg := auth.Config{AnonymousRead: true, Htpasswd: htpasswd}
	app, base := serveApp(t, cfg)
	anonymous := func() int {
		t.Helper()
		status, _ := registryCall(t, "GET", base+"/npm/left-pad", "", "", "")
		return status
	}
	if got := anonymous(); got == 401 {
		t.Fatalf("anonymous read before the reload: %d", got)
	}
	cfg.AnonymousRead = false
	if err := app.Reload(AppConfig{Auth: &cfg}); err != nil {
		t.Fatal(err)
	}
	if got := anonymous(); got != 401 {
		t.Fatalf("anonymous read after anonymous_read = false: %d, want 401", got)
	}
	if status, body := registryCall(t, "GET", base+"/npm/left-pad", "alice", "alice-pw", ""); status == 401 {
		t.Fatalf("alice after anonymous_read = false: %d %s", status, body)
	}
	cfg.AnonymousRead = true
	if err := app.Reload(AppConfig{Auth: &cfg}); err != nil {
		t.Fatal(err)
	}
	if got := anonymous(); got == 401 {
		t.Fatalf("anonymous read after anonymous_read = true again: %d", got)
	}
}
