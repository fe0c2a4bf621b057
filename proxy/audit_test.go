package proxy

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
)

// auditedApp serves an app whose users are user:pass, with its audit log
// in a file and its server log (access log included) kept; trusted are
// the [server] trusted_proxies, rules the [[auth.rules]]. It returns the
// base URL, the audit log's path and the server log.
func auditedApp(t *testing.T, user, pass string, trusted []string, rules ...auth.Rule) (string, string, *syncBuffer) {
	t.Helper()
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, user, pass)
	storage := cache.DefaultConfig()
	storage.Path = t.TempDir()
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	server.TrustedProxies = &trusted
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	npmCfg := npm.DefaultConfig()
	npmCfg.Upstream = "http://127.0.0.1:1" // hosted packages only
	npmCfg.HostedNames = []string{"@team/*"}
	app := runApp(t, AppConfig{Server: server, Storage: storage, Npm: npmCfg,
		Auth: &auth.Config{AnonymousRead: true, Htpasswd: htpasswd, Rules: rules}, Audit: auth.AuditConfig{Path: auditPath}}, log)
	return "http://" + app.Addr().String(), auditPath, logs
}

// auditLines reads the audit log: every line must be one JSON object.
func auditLines(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// findAudit returns the first line with all of want's fields.
func findAudit(lines []map[string]string, want map[string]string) map[string]string {
next:
	for _, l := range lines {
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		return l
	}
	return nil
}

// callFrom sends one request with Basic credentials (none for user "")
// and an X-Forwarded-For ("" for none).
func callFrom(t *testing.T, method, url, user, pass, xff string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestAuditNamesActors: a push by the real crane and a publish by the real
// npm are audited under their user, an anonymous push, a write the rules deny and a wrong password
// under theirs, with the request id and the client address; no password
// or token the test used appears in the audit log or the server log.
func TestAuditNamesActors(t *testing.T) {
	const user, pass = "release-bot", "pw-Audit-7f3c9e"
	base, auditPath, logs := auditedApp(t, user, pass, nil,
		auth.Rule{Subject: user, Permissions: []string{"push:docker:team/**", "push:npm:@team/*"}})
	host := strings.TrimPrefix(base, "http://")
	img := imageTar(t)

	if out, err := craneAs(t, host, user, pass, "push", img, host+"/team/app:v1"); err != nil {
		t.Fatalf("crane push: %v\n%s", err, out)
	}
	if out, err := craneAs(t, "elsewhere.invalid", "x", "y", "push", img, host+"/team/anon:v1"); err == nil {
		t.Fatalf("anonymous push succeeded\n%s", out)
	}
	if out, err := craneAs(t, host, user, "not-"+pass, "push", img, host+"/team/bad:v1"); err == nil {
		t.Fatalf("push with a wrong password succeeded\n%s", out)
	}
	// npm publish with the user's _auth.
	home := t.TempDir()
	npmrc := filepath.Join(home, "npmrc")
	os.WriteFile(npmrc, []byte("registry="+base+"/npm/\n"+strings.TrimPrefix(base, "http:")+"/npm/:_auth="+
		base64.StdEncoding.EncodeToString([]byte(user+":"+pass))+"\nupdate-notifier=false\n"), 0o600)
	pkg := npmtest.WritePackage(t, "@team/lib", "1.0.0", nil, "module.exports = 1\n")
	if out, err := npmtest.NPM(t, pkg, home, "publish", "--userconfig", npmrc, "--cache", filepath.Join(home, "cache")); err != nil {
		t.Fatalf("npm publish: %v\n%s", err, out)
	}
	if resp, body := callFrom(t, "PUT", base+"/maven2/com/acme/lib/1.0/lib-1.0.pom", user, pass, ""); resp.StatusCode != 403 {
		t.Fatalf("deploy the rules do not grant: %d %s", resp.StatusCode, body)
	}
	// A registry token, used: it must not be logged either.
	tok := fetchToken(t, base, user, pass, "repository:team/app:pull")
	if status, body := registryCall(t, "GET", base+"/v2/team/app/tags/list", "", "", tok); status != 200 {
		t.Fatalf("tags with the token: %d %s", status, body)
	}

	lines := auditLines(t, auditPath)
	push := findAudit(lines, map[string]string{"actor": user, "action": "push", "format": "docker",
		"name": "team/app", "reference": "/v2/team/app/manifests/v1", "result": "201", "remote": "127.0.0.1"})
	if push == nil || push["request_id"] == "" || !strings.HasSuffix(push["time"], "Z") {
		t.Errorf("no audit line names the push of team/app:v1 by %s:\n%v", user, lines)
	}
	if findAudit(lines, map[string]string{"actor": user, "action": "push", "format": "npm", "name": "@team/lib", "result": "201"}) == nil {
		t.Errorf("no audit line names the npm publish by %s:\n%v", user, lines)
	}
	if findAudit(lines, map[string]string{"actor": "anonymous", "action": "push", "name": "team/anon", "result": "401"}) == nil {
		t.Errorf("no audit line names the anonymous push refused:\n%v", lines)
	}
	if findAudit(lines, map[string]string{"actor": user, "action": auth.AuditLoginFailed, "result": "401"}) == nil {
		t.Errorf("no audit line names the failed login of %s:\n%v", user, lines)
	}
	if findAudit(lines, map[string]string{"actor": user, "action": "push", "format": "maven", "result": "403"}) == nil {
		t.Errorf("no audit line names the deploy denied to %s:\n%v", user, lines)
	}
	if findAudit(lines, map[string]string{"action": "pull", "result": "200"}) != nil {
		t.Errorf("a pull was audited:\n%v", lines)
	}
	// The steps of an upload are not audited; their completion is.
	for _, l := range lines {
		if l["result"] == "202" {
			t.Errorf("an upload step was audited: %v", l)
		}
	}
	raw, _ := os.ReadFile(auditPath)
	for _, secret := range []string{pass, "not-" + pass, tok} {
		if strings.Contains(string(raw), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("a secret the test used is in a log: %.12s...", secret)
		}
	}
	if fi, err := os.Stat(auditPath); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("audit log mode: %v %v", fi, err)
	}
}

// failLogins sends n wrong passwords for user to the registry's ping from
// xff; each must be a 401.
func failLogins(t *testing.T, base, user, xff string, n int) {
	t.Helper()
	for i := range n {
		if resp, body := callFrom(t, "GET", base+"/v2/", user, "wrong", xff); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d from %q: %d %s", i+1, xff, resp.StatusCode, body)
		}
	}
}

// TestLoginLimits: behind a trusted proxy, the 11th wrong password in a
// minute from one client is refused with 429 and Retry-After in each
// format's shape, the right password included; the same user logs in from
// another client; audit lines name the client X-Forwarded-For gave.
func TestLoginLimits(t *testing.T) {
	const user, pass = "ci", "pw-Limit-51d0a2"
	base, auditPath, logs := auditedApp(t, user, pass, []string{"127.0.0.1/32"})
	failLogins(t, base, user, "198.51.100.1", 10)

	tooMany := func(method, path, wantBody string) {
		t.Helper()
		resp, body := callFrom(t, method, base+path, user, pass, "203.0.113.9, 198.51.100.1")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, wantBody) {
			t.Errorf("%s %s after 10 failures: %d Retry-After %q %s", method, path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	tooMany("GET", "/v2/", "TOOMANYREQUESTS")
	tooMany("GET", "/auth/token?service=nora&scope=repository:x:pull", "too many failed logins")
	tooMany("PUT", "/maven2/com/acme/lib/1.0/lib-1.0.pom", "too many failed logins")
	tooMany("GET", "/npm/-/whoami", "too many failed logins")

	// The same user from another client, and the proxy itself.
	for _, xff := range []string{"198.51.100.2", ""} {
		if resp, body := callFrom(t, "GET", base+"/v2/", user, pass, xff); resp.StatusCode != 200 {
			t.Errorf("good login from %q: %d %s", xff, resp.StatusCode, body)
		}
	}
	lines := auditLines(t, auditPath)
	if findAudit(lines, map[string]string{"actor": user, "action": auth.AuditLoginFailed, "result": "401", "remote": "198.51.100.1"}) == nil {
		t.Errorf("no failed login audited from the forwarded client:\n%v", lines)
	}
	if findAudit(lines, map[string]string{"actor": user, "action": auth.AuditLoginFailed, "result": "429", "format": "maven"}) == nil {
		t.Errorf("no refused login audited:\n%v", lines)
	}
	if raw, _ := os.ReadFile(auditPath); strings.Contains(logs.String(), pass) || strings.Contains(string(raw), pass) {
		t.Error("the password is in a log")
	}
	if !strings.Contains(logs.String(), `"client":"198.51.100.1"`) {
		t.Error("the access log does not name the forwarded client")
	}
}

// TestForwardedForIgnored: without trusted proxies X-Forwarded-For is
// ignored: the peer is the client, whatever the header claims, so a
// guesser cannot reset its count by changing the header.
func TestForwardedForIgnored(t *testing.T) {
	const user, pass = "ci", "pw-Ignored-8e2f41"
	base, auditPath, _ := auditedApp(t, user, "pw-Ignored-8e2f41", nil)
	failLogins(t, base, "someone", "198.51.100.1", 10)
	if resp, body := callFrom(t, "GET", base+"/v2/", user, pass, "198.51.100.2"); resp.StatusCode != 429 {
		t.Fatalf("login from the same peer with another X-Forwarded-For: %d %s", resp.StatusCode, body)
	}
	for _, l := range auditLines(t, auditPath) {
		if l["remote"] != "127.0.0.1" {
			t.Fatalf("audit line with a client the header claimed: %v", l)
		}
	}
}

// countingLocal counts the password checks that reach the htpasswd users.
type countingLocal struct {
	*auth.Local
	checks atomic.Int32
}

func (c *countingLocal) Authenticate(user, pass string) (*auth.Identity, error) {
	c.checks.Add(1)
	return c.Local.Authenticate(user, pass)
}

// TestServerGuardSparesPasswordChecks: through the server, the 11th login
// from an address that failed 10 times in a minute gets 429 and its
// password is never checked (no bcrypt), right as it is; a good login
// from another address is checked and passes.
func TestServerGuardSparesPasswordChecks(t *testing.T) {
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, "ci", "pw-Spare-0b1e")
	l, err := auth.New(auth.Config{Htpasswd: htpasswd})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := &countingLocal{Local: l}
	cfg := testConfig()
	cfg.TrustedProxies = &[]string{"127.0.0.1"}
	ts := startServer(t, cfg, func(s *Server) {
		s.Handle("/w/", "npm", func(ctx *fasthttp.RequestCtx) {
			if _, ok := httpx.Gate(ctx, a, auth.Push, "npm", "x", "x", func(ctx *fasthttp.RequestCtx, status int, msg string) {
				ctx.Error(msg, status)
			}); ok {
				ctx.SetBodyString("ok")
			}
		})
	})
	login := func(pass, xff string) (int, http.Header) {
		t.Helper()
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+pass))
		status, _, hdr := get(t, "PUT", ts.url+"/w/x", "Authorization", basic, "X-Forwarded-For", xff)
		return status, hdr
	}
	for i := range 10 {
		if status, _ := login("wrong", "198.51.100.1"); status != 401 {
			t.Fatalf("wrong password %d: %d", i+1, status)
		}
	}
	if status, hdr := login("pw-Spare-0b1e", "198.51.100.1"); status != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("11th login: %d, Retry-After %q", status, hdr.Get("Retry-After"))
	}
	if n := a.checks.Load(); n != 10 {
		t.Fatalf("%d password checks for 10 wrong passwords and a refused login", n)
	}
	if status, _ := login("pw-Spare-0b1e", "198.51.100.2"); status != 200 {
		t.Fatalf("good login from another address: %d", status)
	}
	if n := a.checks.Load(); n != 11 {
		t.Fatalf("the good login was not checked: %d checks", n)
	}
}

// TestAuditOnStdoutGoesWithTheLog: with [audit] path "stdout", audit lines
// go through nora's log, which gathers its lines before writing them: each
// lands whole, before the access line of its request.
func TestAuditOnStdoutGoesWithTheLog(t *testing.T) {
	const user, pass = "ci", "pw-Stdout-3b7e20"
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, user, pass)
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	h := NewLogHandler(out, nil)
	app := runApp(t, AppConfig{Server: server, Auth: &auth.Config{AnonymousRead: true, Htpasswd: htpasswd},
		Audit: auth.AuditConfig{Path: auth.AuditStdout}}, slog.New(h))
	base := "http://" + app.Addr().String()
	for range 3 {
		if resp, _ := callFrom(t, "GET", base+"/v2/", user, "not-"+pass, ""); resp.StatusCode != 401 {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	}
	h.Flush()
	raw, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{} // request ids audited, not yet logged
	logged := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line is not whole JSON: %v: %s", err, line)
		}
		id, _ := m["request_id"].(string)
		switch {
		case m["action"] == auth.AuditLoginFailed:
			audited[id] = true
		case m["msg"] == "request" && m["path"] == "/v2/":
			if !audited[id] {
				t.Errorf("access line of %s before its audit line (or none):\n%s", id, raw)
			}
			delete(audited, id)
			logged++
		}
	}
	if logged != 3 || len(audited) != 0 {
		t.Fatalf("%d access lines, audit lines without one: %v\n%s", logged, audited, raw)
	}
}
