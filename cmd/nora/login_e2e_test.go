package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"nora/auth"
	"nora/auth/oidc/oidctest"
	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// githubTokenService plays GitHub Actions' ID-token request URL: for the
// request token it mints an ID token of is for the audience asked, with
// the claims of a job of repository. The tokens minted go to minted.
func githubTokenService(t *testing.T, is *oidctest.Issuer, requestToken, repository string) (srv *httptest.Server, minted chan string) {
	minted = make(chan string, 8)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aud := r.URL.Query().Get("audience")
		if r.Header.Get("Authorization") != "bearer "+requestToken || aud == "" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		tok := is.Mint(t, oidctest.Token{Audience: aud,
			Subject: "repo:" + repository + ":ref:refs/heads/main", Claims: map[string]any{"repository": repository}})
		select {
		case minted <- tok:
		default:
		}
		json.NewEncoder(w).Encode(map[string]string{"value": tok})
	}))
	t.Cleanup(srv.Close)
	return srv, minted
}

// TestLoginThenPush: in a simulated GitHub Actions job, nora login
// exchanges the job's ID token at a nora whose provider trusts the
// loopback issuer, and the files it writes are all crane, npm, twine, pip
// and cargo need: they push, publish, upload and install with them, within
// the provider rule's names only. Neither token reaches the output or the
// log.
func TestLoginThenPush(t *testing.T) {
	is := oidctest.New(t)
	n, log := startOIDCNora(t, is)
	home := t.TempDir()
	// The job's cargo knows the registry; nora login adds its token.
	cargoConfig := "[registries.nora]\nindex = \"sparse+" + n.URL + "/cargo/index/\"\ncredential-provider = [\"cargo:token\"]\n"
	if err := os.MkdirAll(filepath.Join(home, ".cargo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".cargo", "config.toml"), []byte(cargoConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	token, idToken := loginAsJob(t, is, n, home, "org/frontend-web")

	// Each client, with the files written and nothing else, pushes inside
	// the rule and is refused outside it.
	tar := imageTar(t)
	crane := func(args ...string) (string, error) {
		return runClient("", proxytest.Env(home, "DOCKER_CONFIG="+filepath.Join(home, ".docker")),
			"crane", append([]string{"--insecure"}, args...)...)
	}
	mustPush(t, "crane push", "403 Forbidden",
		func() (string, error) { return crane("push", tar, n.Addr+"/frontend/web:v1") },
		func() (string, error) { return crane("push", tar, n.Addr+"/backend/api:v1") })
	// npm's HOME is home: it reads the written ~/.npmrc.
	npmPublish := func(name string) func() (string, error) {
		return func() (string, error) {
			return npmtest.NPM(t, npmtest.WritePackage(t, name, "1.0.0", nil, "module.exports = 1;\n"), home,
				"publish", "--registry", n.URL+"/npm/", "--cache", filepath.Join(home, "npm-cache"))
		}
	}
	mustPush(t, "npm publish", "E403", npmPublish("@frontend/web"), npmPublish("@backend/api"))
	mustPush(t, "cargo publish", "403", func() (string, error) { return cargoPublish(t, home, "frontend-ui") },
		func() (string, error) { return cargoPublish(t, home, "backend-ui") })

	// twine upload, with the written ~/.pypirc; pip install, with pip.conf.
	python := func(args ...string) (string, error) {
		return runClient(home, []string{"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
			"PYTHONDONTWRITEBYTECODE=1", "PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring", "NO_COLOR=1"}, pypitest.Python, args...)
	}
	twine := func(name string) func() (string, error) {
		return func() (string, error) {
			wheel, _ := pypitest.Build(t, t.TempDir(), pypitest.Project{Name: name, Version: "1.0.0"})
			return python("-m", "twine", "upload", "--config-file", filepath.Join(home, ".pypirc"), "-r", "nora",
				"--non-interactive", "--disable-progress-bar", wheel)
		}
	}
	mustPush(t, "twine upload", "403", twine("frontend-lib"), twine("backend-lib"))
	if out, err := python("-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0",
		"--target", t.TempDir(), "frontend-lib==1.0.0"); err != nil {
		t.Fatalf("pip install with the written pip.conf: %v\n%s", err, out)
	}

	if logged := log.String(); strings.Contains(logged, token) || strings.Contains(logged, idToken) {
		t.Fatal("nora logged the nora token or the ID token")
	}
}

// startOIDCNora runs a nora that trusts is for audience: a job of an
// org/frontend-* repository may push frontend/**, @frontend/* and
// frontend-* (so pull them too); nobody reads anonymously, so that pip's
// install proves pip.conf's login too. Nothing is upstream: every name
// here is hosted.
func startOIDCNora(t *testing.T, is *oidctest.Issuer) (*proxytest.Nora, *proxytest.Log) {
	ac := oidcAuth(is, false, "push:frontend/**", "push:@frontend/*", "push:frontend-*")
	nc, pc, dc := npm.DefaultConfig(), pypi.DefaultConfig(), docker.DefaultConfig()
	nc.Upstream, nc.HostedNames = "http://127.0.0.1:1/", []string{"@frontend/*", "@backend/*"}
	pc.Upstream = "http://127.0.0.1:1/simple/"
	dc.HostedNames = []string{"frontend/**", "backend/**"}
	log := &proxytest.Log{}
	return proxytest.StartLogged(t, proxy.AppConfig{Docker: dc, Npm: nc, PyPI: pc, Cargo: cargo.DefaultConfig(), Auth: &ac}, log.Logger()), log
}

// jobAudience is the audience of the tests' provider.
const jobAudience = "nora-e2e"

// oidcAuth is an [auth] with one provider, is: a job of an org/frontend-*
// repository gets perms.
func oidcAuth(is *oidctest.Issuer, anonymousRead bool, perms ...string) auth.Config {
	ac := auth.DefaultConfig()
	ac.AnonymousRead = anonymousRead
	ac.OIDC = auth.OIDCConfig{Providers: []auth.Provider{{
		Name: "github", Issuer: is.URL, Audience: jobAudience,
		Rules: []auth.ProviderRule{{Name: "frontend-ci", Match: map[string]string{"repository": "org/frontend-*"}, Permissions: perms}},
	}}}
	return ac
}

// loginAsJob runs nora login at n as a GitHub Actions job of repository
// would, with home as HOME, and returns the nora token it wrote (read
// back from .npmrc) and the ID token it exchanged, after checking that its
// output shows neither.
func loginAsJob(t *testing.T, is *oidctest.Issuer, n *proxytest.Nora, home, repository string) (token, idToken string) {
	t.Helper()
	gh, minted := githubTokenService(t, is, "request-token", repository)
	env := []string{"HOME=" + home, "GITHUB_ACTIONS=true",
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + gh.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=request-token"}
	code, out := runLoginCLI(env, "--server", n.URL, "--audience", jobAudience)
	if code != 0 {
		t.Fatalf("nora login: exit %d\n%s", code, out)
	}
	t.Logf("nora login:\n%s", out)
	npmrc, _ := os.ReadFile(filepath.Join(home, ".npmrc"))
	_, token, _ = strings.Cut(strings.TrimSpace(string(npmrc)), "_authToken=")
	idToken = <-minted
	if token == "" || strings.Contains(out, token) || strings.Contains(out, idToken) || strings.Contains(out, "request-token") {
		t.Fatalf("nora login shows a token, or wrote none: %q\n%s", npmrc, out)
	}
	return token, idToken
}

// mustPush wants allowed to succeed and denied to fail saying refusal.
func mustPush(t *testing.T, what, refusal string, allowed, denied func() (string, error)) {
	t.Helper()
	if out, err := allowed(); err != nil {
		t.Fatalf("%s with the files nora login wrote: %v\n%s", what, err, out)
	}
	if out, err := denied(); err == nil || !strings.Contains(out, refusal) {
		t.Fatalf("%s outside the rule: %v, want a refusal naming %q\n%s", what, err, refusal, out)
	}
}

// runClient runs a client in dir with env only and returns its output.
func runClient(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// imageTar is a small random image as a docker tarball.
func imageTar(t *testing.T) string {
	img, err := random.Image(4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := name.ParseReference("example.invalid/img:x")
	if err := tarball.WriteToFile(tar, ref, img); err != nil {
		t.Fatal(err)
	}
	return tar
}

// cargoPublish publishes a new crate name 0.1.0 to the registry nora with
// the cargo home under home; a rustup-managed cargo still finds its
// toolchains.
func cargoPublish(t *testing.T, home, name string) (string, error) {
	t.Helper()
	dir := filepath.Join(home, "src", name)
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte("[package]\nname = \""+name+"\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"+
		"description = \"nora login test crate\"\nlicense = \"MIT\"\npublish = [\"nora\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "src", "lib.rs"), []byte("pub fn f() {}\n"), 0o644)
	env := proxytest.Env(home, "CARGO_HOME="+filepath.Join(home, ".cargo"), "CARGO_TERM_COLOR=never", "CARGO_HTTP_TIMEOUT=30")
	if h, err := os.UserHomeDir(); err == nil && os.Getenv("RUSTUP_HOME") == "" {
		env = append(env, "RUSTUP_HOME="+filepath.Join(h, ".rustup"))
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUSTUP_") {
			env = append(env, kv)
		}
	}
	return runClient(dir, env, "cargo", "publish", "--registry", "nora", "--no-verify", "--allow-dirty")
}
