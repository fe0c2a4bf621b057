package docker_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// tokenRequest asks /auth/token for scopes; user "" asks anonymously.
func tokenRequest(t *testing.T, n *noraUnderTest, user, pass string, scopes ...string) (int, tokenResponse, string) {
	t.Helper()
	q := url.Values{"service": {"nora"}, "scope": scopes}
	if user != "" {
		q.Set("account", user)
	}
	resp, body := do(t, "GET", n.url("/auth/token?"+q.Encode()), user, pass, nil, nil)
	var tr tokenResponse
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("token response %s: %v", body, err)
		}
	}
	return resp.StatusCode, tr, string(body)
}

// token fetches a token for scopes and checks the response's shape.
func token(t *testing.T, n *noraUnderTest, user, pass string, scopes ...string) string {
	t.Helper()
	status, tr, body := tokenRequest(t, n, user, pass, scopes...)
	if status != 200 || tr.Token == "" || tr.AccessToken != tr.Token || tr.ExpiresIn != 300 {
		t.Fatalf("token for %q %v: %d %s", user, scopes, status, body)
	}
	if at, err := time.Parse(time.RFC3339, tr.IssuedAt); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("issued_at %q: %v", tr.IssuedAt, err)
	}
	return tr.Token
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestBearerTokens drives the token flow with the default anonymous_read =
// true and an htpasswd user: the case where docker and containers/image
// used to push without credentials.
func TestBearerTokens(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	proxied := up.PushRandomImage(t, "library/nginx", "1", 1, 32<<10)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	user := newCLI(t, n.Addr, testUser, testPass)
	anon := newCLI(t, n.Addr, "", "")
	img := randomImage(t, 128<<10, 2)
	want := digestOf(t, img)

	// Real clients: crane with a docker config login, skopeo with
	// --dest-creds; anonymous pulls do the token dance without a login.
	user.mustCrane("push", imageTarball(t, img), n.Addr+"/team/app:v1")
	checkPulls(t, anon, n.Addr+"/team/app", "v1", want)
	anon.mustSkopeo("copy", "--src-tls-verify=false", "docker://"+n.Addr+"/team/app:v1", "oci:"+t.TempDir()+":x")
	anon.mustSkopeo("copy", "--src-tls-verify=false", "docker://"+n.Addr+"/nginx:1", "oci:"+t.TempDir()+":x")
	anon.mustCrane("pull", n.Addr+"/nginx:1", filepath.Join(t.TempDir(), "nginx.tar"))
	if got := anon.mustCrane("catalog", n.Addr); got != "team/app" {
		t.Fatalf("anonymous catalog: %q", got)
	}
	user.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
		"oci:"+ociLayout(t, img, "v1"), "docker://"+n.Addr+"/team/other:v1")
	checkPulls(t, anon, n.Addr+"/team/other", "v1", want)
	other := randomImage(t, 16<<10, 1)
	if out, err := anon.crane("push", imageTarball(t, other), n.Addr+"/team/app:v2"); err == nil {
		t.Fatalf("anonymous crane push succeeded: %s", out)
	}
	if out, err := anon.skopeo("copy", "--dest-tls-verify=false", "oci:"+ociLayout(t, other, "v2"), "docker://"+n.Addr+"/team/app:v2"); err == nil {
		t.Fatalf("anonymous skopeo push succeeded: %s", out)
	}
	if n.stored(digestOf(t, other)) {
		t.Fatal("a refused push stored its manifest")
	}
	user.mustCrane("delete", n.Addr+"/team/other:v1")

	// A dockerd or containerd mirror GET without Authorization still works.
	resp, body := do(t, "GET", n.url("/v2/library/nginx/manifests/1"), "", "",
		map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != digestOf(t, proxied) {
		t.Fatalf("mirror GET of a proxied manifest: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "HEAD", n.url("/v2/team/app/manifests/v1"), "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("anonymous HEAD of a hosted manifest: %d", resp.StatusCode)
	}

	// The token endpoint.
	f := func(what, user, pass string, status int, scopes ...string) {
		t.Helper()
		if got, _, body := tokenRequest(t, n, user, pass, scopes...); got != status {
			t.Fatalf("%s: %d %s, want %d", what, got, body, status)
		}
	}
	f("wrong password", testUser, "wrong", 401, "repository:team/app:pull")
	f("unknown user", "nobody", testPass, 401, "repository:team/app:pull")
	f("malformed scope", "", "", 400, "repository:team/app")
	f("too many scopes", "", "", 400, strings.Repeat("repository:a:pull ", 17))
	f("docker login (no scope)", testUser, testPass, 200)
	if resp, _ := do(t, "POST", n.url("/auth/token"), "", "", nil, nil); resp.StatusCode != 405 {
		t.Fatalf("POST /auth/token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", n.url("/auth/tokens"), "", "", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("GET /auth/tokens: %d", resp.StatusCode)
	}

	// What each token lets through.
	uploads := n.url("/v2/team/app/blobs/uploads/")
	g := func(what, method, url, tok string, status int) {
		t.Helper()
		resp, body := do(t, method, url, "", "", bearer(tok), nil)
		if resp.StatusCode != status {
			t.Fatalf("%s: %s %s: %d %s, want %d", what, method, url, resp.StatusCode, body, status)
		}
		if status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="`+n.url("/auth/token")+`",service="nora"`) {
			t.Fatalf("%s: challenge %q", what, resp.Header.Get("WWW-Authenticate"))
		}
	}
	pushTok := token(t, n, testUser, testPass, "repository:team/app:pull,push")
	pullTok := token(t, n, testUser, testPass, "repository:team/app:pull")
	anonTok := token(t, n, "", "", "repository:team/app:pull,push")
	g("ping with a token", "GET", n.url("/v2/"), pullTok, 200)
	g("ping with an anonymous token", "GET", n.url("/v2/"), anonTok, 200)
	g("push token", "POST", uploads, pushTok, 202)
	g("push token, another repository", "POST", n.url("/v2/team/else/blobs/uploads/"), pushTok, 401)
	g("pull token", "GET", n.url("/v2/team/app/manifests/v1"), pullTok, 200)
	g("pull token pushing", "POST", uploads, pullTok, 401)
	g("pull token deleting", "DELETE", n.url("/v2/team/app/manifests/v1"), pullTok, 401)
	g("anonymous token pushing", "POST", uploads, anonTok, 401)
	g("anonymous token pulling", "GET", n.url("/v2/team/app/manifests/v1"), anonTok, 200)
	// Anonymous reads need no token, so any valid token reads too.
	g("token for another repository, reading", "GET", n.url("/v2/nginx/manifests/1"), pullTok, 200)

	// Tampered tokens: claims rewritten to grant push, a signature that
	// does not match, a token of another shape.
	parts := strings.Split(pullTok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(claims), `"actions":["pull"]`, `"actions":["pull","push"]`, 1)
	if forged == string(claims) {
		t.Fatalf("unexpected claims %s", claims)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	g("forged claims", "POST", uploads, strings.Join(parts, "."), 401)
	g("forged claims, reading", "GET", n.url("/v2/team/app/manifests/v1"), strings.Join(parts, "."), 401)
	sig := []byte(pushTok)
	sig[len(sig)-5] ^= 1
	g("bad signature", "POST", uploads, string(sig), 401)
	g("bad signature on the ping", "GET", n.url("/v2/"), string(sig), 401)
	g("not a token", "GET", n.url("/v2/team/app/manifests/v1"), "abc", 401)
}
