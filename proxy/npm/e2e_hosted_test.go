package npm_test

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// The hosted tests publish with the real npm CLI into nora and install
// through it, with credentials in the client's .npmrc as `_auth`.

// npmClient is the npm CLI with a home, cache and .npmrc of its own,
// pointing at one nora.
type npmClient struct {
	t    *testing.T
	home string
	rc   string
}

// newClient writes an .npmrc for n; user "" means no credentials.
func newClient(t *testing.T, n *proxytest.Nora, user, pass string) *npmClient {
	t.Helper()
	c := &npmClient{t: t, home: t.TempDir()}
	c.rc = filepath.Join(c.home, "npmrc")
	lines := []string{
		"registry=" + n.URL + "/npm/",
		"fetch-retries=0", "update-notifier=false", "fund=false", "audit=false",
	}
	if user != "" {
		lines = append(lines, strings.TrimPrefix(n.URL, "http:")+"/npm/:_auth="+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	if err := os.WriteFile(c.rc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs npm in dir ("" for a new empty directory).
func (c *npmClient) run(dir string, args ...string) (string, error) {
	c.t.Helper()
	if dir == "" {
		dir = c.t.TempDir()
	}
	args = append(args, "--userconfig", c.rc, "--cache", filepath.Join(c.home, "cache"))
	return npmtest.NPM(c.t, dir, c.home, args...)
}

func (c *npmClient) must(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, args...)
	if err != nil {
		c.t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *npmClient) mustFail(dir, want string, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, args...)
	if err == nil {
		c.t.Fatalf("npm %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	if !strings.Contains(out, want) {
		c.t.Fatalf("npm %s failed without %q:\n%s", strings.Join(args, " "), want, out)
	}
	return out
}

// publish runs npm publish of a new package directory.
func (c *npmClient) publish(name, ver string, deps map[string]string, index string, args ...string) {
	c.t.Helper()
	dir := npmtest.WritePackage(c.t, name, ver, deps, index)
	c.must(dir, append([]string{"publish"}, args...)...)
}

// install runs npm install pkg in a new project and returns its directory.
func (c *npmClient) install(pkg string) string {
	c.t.Helper()
	proj := newProject(c.t)
	c.must(proj, "install", pkg, "--no-audit", "--no-fund")
	return proj
}

func newProject(t *testing.T) string {
	t.Helper()
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"proj","version":"1.0.0","private":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return proj
}

// installedVersion reads node_modules/<name>/package.json's version.
func installedVersion(t *testing.T, proj, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(proj, "node_modules", name, "package.json"))
	if err != nil {
		t.Fatalf("%s not installed: %v", name, err)
	}
	var m struct{ Version string }
	json.Unmarshal(b, &m)
	return m.Version
}

func nodeEval(t *testing.T, dir, js string) string {
	t.Helper()
	cmd := exec.Command("node", "-e", js)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node -e %s: %v\n%s", js, err, out)
	}
	return string(out)
}

func TestHostedPublishInstall(t *testing.T) {
	// The upstream has packages by the names the site publishes, at
	// higher versions: what a dependency confusion attack looks like.
	v := npmtest.StartVerdaccio(t)
	v.Publish(t, npmtest.WritePackage(t, "@acme/lib", "9.9.9", nil, "module.exports = 'public lib';\n"))
	v.Publish(t, npmtest.WritePackage(t, "confused", "9.9.9", nil, "module.exports = 'public confused';\n"))
	front := npmtest.NewFront(t, v.URL)
	n := startNoraAuth(t, npm.Config{Upstream: front.URL, HostedNames: []string{"@acme/*"}}, authOptions{htpasswd: true})
	ci := newClient(t, n, testUser, testPass)
	dev := newClient(t, n, "", "") // installs anonymously

	// npm publish, scoped and unscoped; the unscoped one depends on the
	// scoped one.
	ci.publish("@acme/lib", "1.0.0", nil, "module.exports = 'hosted lib';\n")
	ci.publish("acme-util", "1.0.0", map[string]string{"@acme/lib": "^1.0.0"}, "module.exports = 'util uses ' + require('@acme/lib');\n")
	// npm publish's own look-up before the first publish went upstream.
	utilHits := front.HitsPrefix("/acme-util")

	proj := dev.install("acme-util")
	if got := nodeEval(t, proj, "process.stdout.write(require('acme-util'))"); got != "util uses hosted lib" {
		t.Fatalf("require('acme-util') = %q", got)
	}
	// Dependency confusion: @acme/lib 9.9.9 upstream never wins, and
	// the upstream is never asked about @acme/* (hosted_names), not even
	// by npm publish's own look-up before the first publish.
	if got := installedVersion(t, dev.install("@acme/lib"), "@acme/lib"); got != "1.0.0" {
		t.Fatalf("npm install @acme/lib resolved %s, want the hosted 1.0.0", got)
	}
	if hits := front.HitsPrefix("/@acme/"); hits != 0 {
		t.Fatalf("the upstream was asked %d times about @acme/*", hits)
	}
	// An unscoped name that was proxied turns hosted when published (npm's
	// own check saw 9.9.9 upstream, hence the explicit tag); from then on
	// the upstream is not asked about it.
	ci.publish("confused", "1.0.0", nil, "module.exports = 'hosted confused';\n", "--tag", "latest")
	before := front.HitsPrefix("/confused")
	if got := installedVersion(t, dev.install("confused"), "confused"); got != "1.0.0" {
		t.Fatalf("npm install confused resolved %s, want the hosted 1.0.0", got)
	}
	if got := front.HitsPrefix("/confused"); got != before {
		t.Fatalf("the upstream was asked about a hosted name (%d -> %d)", before, got)
	}

	// A published version is immutable: npm's own check, and nora's
	// answer when that check is skipped.
	dir := npmtest.WritePackage(t, "@acme/lib", "1.0.0", nil, "module.exports = 'changed';\n")
	ci.mustFail(dir, "previously published", "publish")
	ci.mustFail(dir, "cannot modify pre-existing version", "publish", "--force")
	if got := nodeEval(t, dev.install("@acme/lib"), "process.stdout.write(require('@acme/lib'))"); got != "hosted lib" {
		t.Fatalf("after a refused re-publish: %q", got)
	}

	// dist-tags.
	ci.publish("@acme/lib", "2.0.0-beta.1", nil, "module.exports = 'beta';\n", "--tag", "beta")
	ci.must("", "dist-tag", "add", "@acme/lib@1.0.0", "stable")
	if out := dev.must("", "dist-tag", "ls", "@acme/lib"); !strings.Contains(out, "beta: 2.0.0-beta.1") || !strings.Contains(out, "latest: 1.0.0") || !strings.Contains(out, "stable: 1.0.0") {
		t.Fatalf("dist-tag ls:\n%s", out)
	}
	if got := installedVersion(t, dev.install("@acme/lib@beta"), "@acme/lib"); got != "2.0.0-beta.1" {
		t.Fatalf("npm install @acme/lib@beta resolved %s", got)
	}
	ci.must("", "dist-tag", "rm", "@acme/lib", "stable")
	if out := dev.must("", "dist-tag", "ls", "@acme/lib"); strings.Contains(out, "stable") {
		t.Fatalf("dist-tag ls after rm:\n%s", out)
	}
	dev.mustFail("", "E401", "dist-tag", "add", "@acme/lib@1.0.0", "anon")
	ci.mustFail("", "E400", "dist-tag", "rm", "@acme/lib", "latest")

	// npm deprecate: npm view shows it, npm install warns.
	ci.must("", "deprecate", "@acme/lib@1.0.0", "use 2.x")
	if out := dev.must("", "view", "@acme/lib@1.0.0", "deprecated"); strings.TrimSpace(out) != "use 2.x" {
		t.Fatalf("npm view deprecated: %q", out)
	}
	proj = newProject(t)
	if out := dev.must(proj, "install", "@acme/lib@1.0.0", "--no-audit", "--no-fund"); !strings.Contains(out, "deprecated") {
		t.Fatalf("installing a deprecated version gave no warning:\n%s", out)
	}
	ci.must("", "deprecate", "@acme/lib@1.0.0", "")
	if out := dev.must("", "view", "@acme/lib@1.0.0", "deprecated"); strings.TrimSpace(out) != "" {
		t.Fatalf("npm view deprecated after undeprecating: %q", out)
	}

	// Unpublish (default policy within-72h: these versions are new).
	ci.publish("acme-util", "1.0.1", map[string]string{"@acme/lib": "^1.0.0"}, "module.exports = 1;\n")
	ci.must("", "unpublish", "acme-util@1.0.1")
	if out := dev.must("", "view", "acme-util", "versions", "--json"); !strings.Contains(out, `"1.0.0"`) || strings.Contains(out, "1.0.1") {
		t.Fatalf("versions after unpublishing 1.0.1: %s", out)
	}
	if got := installedVersion(t, dev.install("acme-util"), "acme-util"); got != "1.0.0" {
		t.Fatalf("npm install acme-util after unpublishing 1.0.1: %s", got)
	}
	ci.mustFail(npmtest.WritePackage(t, "acme-util", "1.0.1", nil, "x"), "cannot be used again", "publish", "--force")
	ci.must("", "unpublish", "acme-util", "--force")
	dev.mustFail(newProject(t), "E404", "install", "acme-util")
	// The name stays hosted: the upstream is still not asked about it.
	if hits := front.HitsPrefix("/acme-util"); hits != utilHits {
		t.Fatalf("the upstream was asked about the hosted acme-util (%d -> %d)", utilHits, hits)
	}
}

func TestHostedUnpublishNever(t *testing.T) {
	n := startNoraAuth(t, npm.Config{Unpublish: "never"}, authOptions{htpasswd: true})
	ci := newClient(t, n, testUser, testPass)
	ci.publish("keep", "1.0.0", nil, "module.exports = 1;\n")
	ci.publish("keep", "1.0.1", nil, "module.exports = 2;\n")
	ci.mustFail("", "does not unpublish", "unpublish", "keep@1.0.1")
	ci.mustFail("", "does not unpublish", "unpublish", "keep", "--force")
	if out := ci.must("", "view", "keep", "versions", "--json"); !strings.Contains(out, "1.0.0") || !strings.Contains(out, "1.0.1") {
		t.Fatalf("versions after refused unpublishes: %s", out)
	}
}

// publishDoc is the body npm publish sends for name@ver with tgz.
func publishDoc(name, ver string, tgz []byte) []byte {
	s512 := sha512.Sum512(tgz)
	s1 := sha1.Sum(tgz)
	doc := map[string]any{
		"_id": name, "name": name, "dist-tags": map[string]string{"latest": ver},
		"versions": map[string]any{ver: map[string]any{
			"name": name, "version": ver,
			"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])},
		}},
		"_attachments": map[string]any{name + "-" + ver + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestHostedRefusals(t *testing.T) {
	n := startNoraAuth(t, npm.Config{MaxPublishSize: 64 << 10, HostedNames: []string{"@acme/*"}}, authOptions{htpasswd: true})
	tgz := npmtest.Tarball(t, "@acme/lib", "1.0.0", 1000)
	good := publishDoc("@acme/lib", "1.0.0", tgz)
	blob := cache.BlobKey(digest.FromBytes(tgz))
	nothingStored := func(what string) {
		t.Helper()
		if n.Stored(blob) || n.Stored("hosted/npm/packages/@acme/lib/state.json") || len(n.TempFiles()) != 0 {
			t.Fatalf("%s: something was stored (blob %v, state %v, temp files %v)", what, n.Stored(blob),
				n.Stored("hosted/npm/packages/@acme/lib/state.json"), n.TempFiles())
		}
		if resp, _ := get(t, n.URL+"/npm/@acme%2flib"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: packument %d after a refused publish", what, resp.StatusCode)
		}
	}
	f := func(what string, body []byte, authz string, status int, want string) {
		t.Helper()
		hdr := []string{"Content-Type", "application/json"}
		if authz != "" {
			hdr = append(hdr, "Authorization", authz)
		}
		resp, b := do(t, "PUT", n.URL+"/npm/@acme%2flib", strings.NewReader(string(body)), hdr...)
		if resp.StatusCode != status || !strings.Contains(string(b), want) || !json.Valid(b) {
			t.Fatalf("%s: %d %s, want %d %q", what, resp.StatusCode, b, status, want)
		}
		if status == http.StatusRequestEntityTooLarge && !resp.Close {
			t.Fatalf("%s: the connection stays open after a 413: the rest of the body would be read", what)
		}
		if status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("%s: WWW-Authenticate %q", what, resp.Header.Get("WWW-Authenticate"))
		}
		nothingStored(what)
	}
	f("no credentials", good, "", 401, "authentication required")
	f("wrong password", good, basicAuth(testUser, "wrong"), 401, "invalid user name or password")
	f("unknown user", good, basicAuth("nobody", testPass), 401, "invalid user name or password")
	f("a bearer token", good, "Bearer abc", 401, "invalid user name or password")
	corrupt := publishDoc("@acme/lib", "1.0.0", tgz)
	b64 := base64.StdEncoding.EncodeToString(tgz)
	other := []byte(b64)
	other[100] ^= 1 // still base64, other bytes
	corrupt = []byte(strings.Replace(string(corrupt), b64, string(other), 1))
	f("a corrupted tarball", corrupt, basicAuth(testUser, testPass), 400, "does not match")
	f("a truncated document", good[:len(good)/2], basicAuth(testUser, testPass), 400, "ends early")
	big := publishDoc("@acme/lib", "1.0.0", npmtest.Tarball(t, "@acme/lib", "1.0.0", 100<<10))
	f("over max_publish_size", big, basicAuth(testUser, testPass), 413, "max_publish_size")
	f("not JSON", []byte("hello"), basicAuth(testUser, testPass), 400, "not valid JSON")

	// The real client, refused: no credentials (npm refuses before asking),
	// a wrong password, a package over the cap.
	dir := npmtest.WritePackage(t, "@acme/lib", "1.0.0", nil, "module.exports = 1;\n")
	newClient(t, n, "", "").mustFail(dir, "ENEEDAUTH", "publish")
	newClient(t, n, testUser, "wrong").mustFail(dir, "E401", "publish")
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), npmtest.Tarball(t, "x", "1", 100<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	newClient(t, n, testUser, testPass).mustFail(dir, "E413", "publish")
	nothingStored("npm publish refused")

	// Writes that remove things need credentials too.
	for _, req := range [][2]string{{"DELETE", "/npm/@acme%2flib/-rev/1-abc"}, {"DELETE", "/npm/@acme/lib/-/lib-1.0.0.tgz/-rev/1-abc"},
		{"PUT", "/npm/@acme%2flib/-rev/1-abc"}, {"PUT", "/npm/-/package/@acme%2flib/dist-tags/beta"}, {"DELETE", "/npm/-/package/@acme%2flib/dist-tags/beta"}} {
		resp, b := do(t, req[0], n.URL+req[1], strings.NewReader(`{}`))
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("anonymous %s %s: %d %s", req[0], req[1], resp.StatusCode, b)
		}
	}
	// whoami names the user of the credentials.
	if resp, b := get(t, n.URL+"/npm/-/whoami", "Authorization", basicAuth(testUser, testPass)); resp.StatusCode != 200 || string(b) != `{"username":"ci"}` {
		t.Fatalf("whoami: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get(t, n.URL+"/npm/-/whoami", "Authorization", basicAuth(testUser, "wrong")); resp.StatusCode != 401 {
		t.Fatalf("whoami with a wrong password: %d", resp.StatusCode)
	}
	if resp, b := do(t, "PUT", n.URL+"/npm/-/user/org.couchdb.user:ci", strings.NewReader(`{}`)); resp.StatusCode != 501 || !strings.Contains(string(b), "_auth") {
		t.Fatalf("npm login: %d %s", resp.StatusCode, b)
	}
}

// Without an htpasswd file nobody may publish, and the answer says why.
func TestHostedNoWrites(t *testing.T) {
	n := startNora(t, npm.Config{})
	for _, authz := range []string{"", basicAuth(testUser, testPass)} {
		hdr := []string{}
		if authz != "" {
			hdr = []string{"Authorization", authz}
		}
		tgz := npmtest.Tarball(t, "lib", "1.0.0", 10)
		resp, b := do(t, "PUT", n.URL+"/npm/lib", strings.NewReader(string(publishDoc("lib", "1.0.0", tgz))), hdr...)
		if resp.StatusCode != 403 || !strings.Contains(string(b), "[auth] htpasswd") {
			t.Fatalf("publish without htpasswd (%q): %d %s", authz, resp.StatusCode, b)
		}
	}
	newClient(t, n, testUser, testPass).mustFail(npmtest.WritePackage(t, "lib", "1.0.0", nil, "x"), "E403", "publish")
}

// With anonymous_read off, reads need the credentials npm sends from
// _auth; the client still installs.
func TestHostedPrivateRead(t *testing.T) {
	n := startNoraAuth(t, npm.Config{}, authOptions{htpasswd: true, privateRead: true})
	ci := newClient(t, n, testUser, testPass)
	ci.publish("@acme/secret", "1.0.0", nil, "module.exports = 's';\n")
	for _, path := range []string{"/npm/@acme%2fsecret", "/npm/@acme/secret/-/secret-1.0.0.tgz", "/npm/-/package/@acme%2fsecret/dist-tags", "/npm/left-pad"} {
		resp, b := get(t, n.URL+path)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("anonymous GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	if got := installedVersion(t, ci.install("@acme/secret"), "@acme/secret"); got != "1.0.0" {
		t.Fatalf("installed %s", got)
	}
	newClient(t, n, "", "").mustFail(newProject(t), "E401", "install", "@acme/secret")
}
