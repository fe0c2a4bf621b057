package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nora/auth/oidc/oidctest"
	"nora/cache/s3/s3test"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// secrets are the credentials a test used, by what they are.
type secrets map[string]string

// add keeps s under name; a secret that is also the password of user is
// looked for in its Basic form too.
func (s secrets) add(name, secret string) { s[name] = secret }

// forms are the spellings of a secret a log could hold: as is, base64,
// URL-escaped, and the Basic credentials of any user with it.
func forms(secret string) []string {
	out := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)}
	for _, user := range []string{"alice", "upuser", "mvnuser", "x", "token"} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(user+":"+secret)))
	}
	return out
}

// checkNoSecrets fails for every secret, in any of its forms, that a log
// holds.
func checkNoSecrets(t *testing.T, logs map[string]string, s secrets) {
	t.Helper()
	for logName, text := range logs {
		for name, secret := range s {
			for _, f := range forms(secret) {
				if strings.Contains(text, f) {
					i := strings.Index(text, f)
					t.Errorf("%s holds the %s (%q): …%s…", logName, name, f, text[max(0, i-200):min(len(text), i+len(f)+50)])
				}
			}
		}
	}
}

// authRecorder records the Authorization headers an upstream got: the
// bearer tokens its token server issued to nora.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (a *authRecorder) hook(_ http.ResponseWriter, r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		a.mu.Lock()
		a.seen = append(a.seen, strings.TrimPrefix(h, "Bearer "))
		a.mu.Unlock()
	}
	return false
}

// basicUpstream answers 401 unless the Basic credentials are user:pass.
func basicUpstream(t *testing.T, user, pass string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("Www-Authenticate", `Basic realm="maven"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// loggedNora runs nora serve as a child process at debug level with its
// stdout and stderr in files and env (plus NORATEST_MAIN) as its
// environment, and waits for /health.
func loggedNora(t *testing.T, config string, env []string) (addr string, stdout, stderr string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	path, stdout, stderr := filepath.Join(dir, "nora.toml"), filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(stdout)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--config", path, "--log-level", "debug")
	cmd.Env = append(env, "NORATEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); errf.Close(); close(done) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	addr = strings.Split(strings.Split(config, `listen = "`)[1], `"`)[0]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, stdout, stderr, stop
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(stderr)
			t.Fatalf("nora exited before it was healthy: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nora did not become healthy")
		}
	}
}

// call sends one request and returns the status and body.
func call(t *testing.T, method, u, authz, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// cli runs a nora command in this process and returns its exit code and
// what it wrote.
func cli(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

// npmPublishBody is a one-version publish of name whose tarball is "hi".
func npmPublishBody(name string) string {
	return fmt.Sprintf(`{"name":%q,"versions":{"1.0.0":{"name":%q,"version":"1.0.0",`+
		`"dist":{"tarball":"x","shasum":"c22b5f9178342609428d6f51b2c5af4c0bde6a42"}}},`+
		`"_attachments":{%q:{"data":"aGk=","length":2}}}`, name, name, name+"-1.0.0.tgz")
}

// secretsConfig is nora's configuration with every kind of credential.
func secretsConfig(addr, data, audit, htpasswd string, up *upstreamtest.Registry, mvnURL, hookURL, issuer string, s secrets) string {
	return fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[auth]
anonymous_read = true
htpasswd = %q
[audit]
path = %q
[[docker.upstreams]]
name = "docker.io"
url = %q
realm = %q
username = "upuser"
password = %q
[[maven.upstreams]]
url = %q
username = "mvnuser"
password = %q
[npm]
upstream = ""
[[webhooks]]
url = %q
secret = %q
[[auth.oidc.providers]]
name = "ci"
issuer = %q
audience = "nora-secrets"
rules = [{ name = "ci", match = { repository = "org/*" }, permissions = ["push:**"] }]
`, addr, data, htpasswd, audit, up.URL, up.Realm, s["upstream password"], mvnURL, s["wrong maven upstream password"], hookURL, s["webhook secret"], issuer)
}

// TestSecretsNeverLogged runs a nora process at debug level through
// traffic that uses every kind of credential, right and wrong (htpasswd
// passwords on pulls, pushes and the token endpoint, nora's bearer tokens,
// API tokens live and revoked, the admin --token, upstream credentials a
// docker upstream takes and a maven upstream refuses, the bearer tokens an
// upstream's token server issued, a webhook secret, and config check
// errors), then greps every log byte: stdout (JSON, with the access log),
// stderr, the audit log and the CLI's own output.
func TestSecretsNeverLogged(t *testing.T) {
	s := secrets{}
	s.add("htpasswd password", "Htp-Pass-7f3a9c")
	s.add("wrong htpasswd password", "Wrong-Pass-19be4d")
	s.add("upstream password", "Up-Pass-c0ffee11")
	s.add("wrong maven upstream password", "Mvn-Pass-5eed5eed")
	s.add("webhook secret", "Hook-Secret-a1b2c3d4")
	up := upstreamtest.New(t, upstreamtest.Options{Username: "upuser", Password: s["upstream password"]})
	up.PushRandomImage(t, "library/app", "v1", 1, 1024)
	var rec authRecorder
	up.SetHook(rec.hook)
	mvn := basicUpstream(t, "mvnuser", "the-right-one")
	var hookMu sync.Mutex
	var hookBodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hookBodies = append(hookBodies, string(b))
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)
	is := oidctest.New(t)
	data, err := os.MkdirTemp("", "nora-secrets") // the admin socket's path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	audit := filepath.Join(t.TempDir(), "audit.log")
	config := secretsConfig(freeAddr(t), data, audit, proxytest.Htpasswd(t, "alice", s["htpasswd password"]), up, mvn.URL, hook.URL, is.URL, s)
	addr, stdout, stderr, stop := loggedNora(t, config, os.Environ())
	configPath := filepath.Join(t.TempDir(), "nora.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cliOut := secretsTraffic(t, "http://"+addr, configPath, s)
	oidcTraffic(t, "http://"+addr, is, s)
	cliOut += configCheckErrors(t, s)
	stop()

	rec.mu.Lock()
	for i, tok := range rec.seen {
		if !strings.HasPrefix(tok, "Basic ") {
			s.add(fmt.Sprintf("upstream bearer token %d", i), tok)
		}
	}
	if len(rec.seen) == 0 {
		t.Error("the upstream saw no bearer token: the token dance did not run")
	}
	rec.mu.Unlock()
	logs := readLogs(t, map[string]string{"stdout": stdout, "stderr": stderr, "audit log": audit})
	logs["cli output"] = cliOut
	if !strings.Contains(logs["stdout"], `"status":401`) || !strings.Contains(logs["audit log"], "alice") {
		t.Fatalf("the logs do not show the traffic: stdout %d bytes, audit %d bytes", len(logs["stdout"]), len(logs["audit log"]))
	}
	checkNoSecrets(t, logs, s)
}

// secretsTraffic runs the requests and commands of TestSecretsNeverLogged
// against the nora at base, adding the secrets they make to s, and returns
// what the commands printed on stderr.
func secretsTraffic(t *testing.T, base, config string, s secrets) string {
	t.Helper()
	alice, wrong := basic("alice", s["htpasswd password"]), basic("alice", s["wrong htpasswd password"])
	code, body := call(t, "GET", base+"/v2/library/app/manifests/v1", "", "", "")
	expectStatus(t, "pull through an upstream with credentials", 200, code, body)
	code, body = call(t, "GET", base+"/auth/token?service=nora&scope=repository:mine/app:push,pull", alice, "", "")
	expectStatus(t, "token endpoint", 200, code, body)
	var tok struct{ Token string }
	json.Unmarshal([]byte(body), &tok)
	s.add("nora bearer token", tok.Token)
	code, body = call(t, "GET", base+"/auth/token?service=nora&scope=repository:mine/app:push", wrong, "", "")
	expectStatus(t, "token endpoint, wrong password", 401, code, body)
	code, body = call(t, "POST", base+"/v2/mine/app/blobs/uploads/", "Bearer "+tok.Token, "", "")
	expectStatus(t, "push with nora's bearer token", 202, code, body)
	code, body = call(t, "POST", base+"/v2/mine/app/blobs/uploads/", "Bearer "+tok.Token+"x", "", "")
	expectStatus(t, "push with a forged bearer token", 401, code, body)
	code, body = call(t, "PUT", base+"/npm/secret-pkg", alice, "application/json", npmPublishBody("secret-pkg"))
	expectStatus(t, "npm publish with the htpasswd password", 201, code, body)
	code, body = call(t, "PUT", base+"/npm/secret-pkg2", wrong, "application/json", npmPublishBody("secret-pkg2"))
	expectStatus(t, "npm publish with a wrong password", 401, code, body)
	// npm's legacy login sends the password in its body.
	code, body = call(t, "PUT", base+"/npm/-/user/org.couchdb.user:alice", "", "application/json",
		`{"name":"alice","password":"`+s["htpasswd password"]+`"}`)
	expectStatus(t, "npm login", 501, code, body)
	code, body = call(t, "GET", base+"/maven2/com/acme/lib/1.0/lib-1.0.pom", "", "", "")
	if code < 400 {
		t.Errorf("maven through an upstream that refuses its credentials: %d", code)
	}

	return apiTokenTraffic(t, base, config, s)
}

// apiTokenTraffic uses API tokens, live, revoked, expired and admin (as
// --token of a command against the server), adding them to s, and returns
// what the commands printed.
func apiTokenTraffic(t *testing.T, base, config string, s secrets) string {
	t.Helper()
	var cliErr strings.Builder
	c, apiTok, e := cli("token", "create", "--name", "ci", "--permissions", "push:**", "--config", config)
	cliErr.WriteString(e)
	apiTok = strings.TrimSpace(apiTok)
	if c != 0 || apiTok == "" {
		t.Fatalf("token create: %d %s", c, e)
	}
	s.add("API token", apiTok)
	code, body := call(t, "PUT", base+"/npm/secret-pkg3", "Bearer "+apiTok, "application/json", npmPublishBody("secret-pkg3"))
	expectStatus(t, "npm publish with an API token", 201, code, body)
	code, body = call(t, "POST", base+"/v2/mine/app/blobs/uploads/", basic("x", apiTok), "", "")
	expectStatus(t, "push with an API token as a Basic password", 202, code, body)
	c, _, e = cli("token", "revoke", "ci", "--config", config)
	cliErr.WriteString(e)
	code, body = call(t, "PUT", base+"/npm/secret-pkg4", "Bearer "+apiTok, "application/json", npmPublishBody("secret-pkg4"))
	expectStatus(t, "npm publish with a revoked API token", 401, code, body)

	c, shortTok, e := cli("token", "create", "--name", "short", "--permissions", "push:**", "--expires", "1s", "--config", config)
	cliErr.WriteString(e)
	shortTok = strings.TrimSpace(shortTok)
	if c != 0 || shortTok == "" {
		t.Fatalf("token create (1s): %d %s", c, e)
	}
	s.add("expired API token", shortTok)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Until it expires the publish is refused for the existing name
		// (409) or accepted; after, 401.
		if code, _ = call(t, "PUT", base+"/npm/secret-pkg5", "Bearer "+shortTok, "application/json", npmPublishBody("secret-pkg5")); code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 1s API token still works: %d", code)
		}
	}

	c, adminTok, e := cli("token", "create", "--name", "ops", "--permissions", "admin:**", "--config", config)
	cliErr.WriteString(e)
	adminTok = strings.TrimSpace(adminTok)
	if c != 0 || adminTok == "" {
		t.Fatalf("token create (admin): %d %s", c, e)
	}
	s.add("admin token", adminTok)
	c, out, e := cli("token", "list", "--server", base, "--token", adminTok)
	cliErr.WriteString(out + e)
	if c != 0 {
		t.Errorf("token list --server --token: %d %s %s", c, out, e)
	}
	c, out, e = cli("token", "list", "--server", base, "--token", adminTok+"x")
	cliErr.WriteString(out + e)
	if c == 0 {
		t.Error("token list with a wrong admin token succeeded")
	}
	return cliErr.String()
}

// configCheckErrors runs nora config check on configurations whose
// mistakes sit next to, or in, a secret, and returns what it printed.
func configCheckErrors(t *testing.T, s secrets) string {
	t.Helper()
	s.add("config password", "Cfg-Pass-0badf00d")
	s.add("config URL password", "Url-Pass-feedbeef")
	var all strings.Builder
	for _, doc := range []string{
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"ftp://u:" + s["config URL password"] + "@127.0.0.1/\"\n",
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"http://u:" + s["config URL password"] + "@127.0.0.1/\"\n",
		"[[maven.upstreams]]\nurl = \"http://127.0.0.1/\"\nusername = \"u\"\npasword = \"" + s["config password"] + "\"\n",
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"http://127.0.0.1/\"\npassword = " + s["config password"] + "\n",
		"[[webhooks]]\nurl = \"http://127.0.0.1/\"\nsecret = [\"" + s["config password"] + "\"]\n",
		"[npm]\nupstream = \"http://u:" + s["config URL password"] + "@127.0.0.1/\"\n",
	} {
		path := filepath.Join(t.TempDir(), "nora.toml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, e := cli("config", "check", "--config", path)
		t.Logf("config check: %d %s %s", code, out, e)
		all.WriteString(out + e)
	}
	return all.String()
}

// oidcTraffic exchanges an ID token for a nora token and pushes with it,
// and tries an ID token with a bad signature; the ID tokens and the nora
// token go into s.
func oidcTraffic(t *testing.T, base string, is *oidctest.Issuer, s secrets) {
	t.Helper()
	claims := map[string]any{"repository": "org/app"}
	id := is.Mint(t, oidctest.Token{Audience: "nora-secrets", Claims: claims})
	bad := is.Mint(t, oidctest.Token{Audience: "nora-secrets", Claims: claims, Stranger: true})
	s.add("OIDC ID token", id)
	s.add("OIDC ID token's signature", id[strings.LastIndexByte(id, '.')+1:])
	s.add("forged OIDC ID token", bad)
	code, body := call(t, "POST", base+"/auth/oidc/token", "", "application/json", `{"token":"`+id+`"}`)
	var ex struct{ Token string }
	if err := json.Unmarshal([]byte(body), &ex); code != 200 || err != nil || ex.Token == "" {
		t.Fatalf("OIDC exchange: %d %s", code, body)
	}
	s.add("OIDC-exchanged nora token", ex.Token)
	code, body = call(t, "PUT", base+"/npm/secret-oidc", "Bearer "+ex.Token, "application/json", npmPublishBody("secret-oidc"))
	if code != 201 {
		t.Errorf("npm publish with the exchanged token: %d %s", code, body)
	}
	if code, body = call(t, "POST", base+"/auth/oidc/token", "", "application/json", `{"token":"`+bad+`"}`); code != 401 {
		t.Errorf("OIDC exchange of a forged ID token: %d %s", code, body)
	}
}

// readLogs reads each log file, by name.
func readLogs(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	logs := map[string]string{}
	for name, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		logs[name] = string(b)
	}
	return logs
}

// TestS3SecretsNeverLogged: the S3 secret key (from the environment) is
// in no log of a nora process that pushes to and pulls from a bucket,
// also while the S3 server is down, nor in what nora config check
// --connect prints when the key is wrong.
func TestS3SecretsNeverLogged(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := secrets{"S3 secret key": s3test.SecretKey, "wrong S3 secret key": "Wrong-S3-Key-77aa88bb", "htpasswd password": "S3-Htp-Pass-42"}
	config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\nbackend = \"s3\"\npath = %q\n"+
		"[storage.s3]\nendpoint = %q\nbucket = %q\nregion = %q\npath_style = true\n"+
		"[auth]\nhtpasswd = %q\n[docker]\nupstreams = []\n",
		freeAddr(t), t.TempDir(), srv.Endpoint, bucket, s3test.Region, proxytest.Htpasswd(t, "alice", s["htpasswd password"]))
	addr, stdout, stderr, stop := loggedNora(t, config, s3test.ProcessEnv())
	base, alice := "http://"+addr, basic("alice", s["htpasswd password"])
	blob := "hello s3"
	sum := sha256.Sum256([]byte(blob))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	push := func() int {
		code, _ := call(t, "POST", base+"/v2/team/app/blobs/uploads/?digest="+digest, alice, "application/octet-stream", blob)
		return code
	}
	if code := push(); code != 201 {
		t.Fatalf("monolithic blob push: %d", code)
	}
	if code, body := call(t, "GET", base+"/v2/team/app/blobs/"+digest, alice, "", ""); code != 200 || body != blob {
		t.Fatalf("pull: %d %q", code, body)
	}
	srv.Stop()
	push() // fails: the store is down
	call(t, "GET", base+"/v2/team/app/blobs/"+digest, alice, "", "")
	srv.Resume()
	stop()

	path := filepath.Join(t.TempDir(), "nora.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// A child process: the S3 client takes its keys from the process's
	// environment.
	cmd := exec.Command(os.Args[0], "config", "check", "--connect", "--config", path)
	cmd.Env = append(s3test.ProcessEnv(), "AWS_SECRET_ACCESS_KEY="+s["wrong S3 secret key"], "NORATEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused") {
		t.Errorf("config check --connect with a wrong secret key: %v: %s", err, out)
	}
	logs := readLogs(t, map[string]string{"stdout": stdout, "stderr": stderr})
	logs["config check output"] = string(out)
	checkNoSecrets(t, logs, s)
}

// expectStatus fails unless a request got the status wanted.
func expectStatus(t *testing.T, what string, want, got int, body string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %d, want %d: %.300s", what, got, want, body)
	}
}
