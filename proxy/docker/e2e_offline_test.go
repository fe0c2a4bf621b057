package docker_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

// TestPushWithUpstreamDown: an offline site still takes its CI's pushes.
// crane and skopeo check which tags and blobs exist before they upload;
// for a name not hosted yet those checks are proxied reads, which the
// stopped upstream cannot answer. A pusher hears 404 and uploads; a name
// hosted_names claims is never asked upstream at all. A pull of an image
// never cached still hears that the upstream is unavailable.
func TestPushWithUpstreamDown(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	n := startNora(t, options{
		upstreams:   []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		hostedNames: []string{"site/**"},
	})
	up.Stop()
	c := newCLI(t, n.Addr, testUser, testPass)
	img := randomImage(t, 128<<10, 2)
	want := digestOf(t, img)

	for _, repo := range []string{"team/crane-new", "site/crane-app"} {
		c.mustCrane("push", imageTarball(t, img), n.Addr+"/"+repo+":v1")
		checkPulls(t, c, n.Addr+"/"+repo, "v1", want)
	}
	for _, repo := range []string{"team/skopeo-new", "site/skopeo-app"} {
		c.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
			"oci:"+ociLayout(t, img, "v1"), "docker://"+n.Addr+"/"+repo+":v1")
		checkPulls(t, c, n.Addr+"/"+repo, "v1", want)
	}

	// Pulls, anonymous or logged in, of what was never cached: 503.
	for _, who := range []*cli{newCLI(t, n.Addr, "", ""), c} {
		if out, err := who.crane("digest", n.Addr+"/team/never:1"); err == nil || !strings.Contains(out, "UNAVAILABLE") {
			t.Fatalf("pull of a never cached image with the upstream down: %v\n%s", err, out)
		}
	}
	never := "sha256:" + strings.Repeat("e", 64)
	resp, body := do(t, "HEAD", n.url("/v2/team/never/blobs/"+never), "", "", nil, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("anonymous HEAD of a never cached blob: %d %s", resp.StatusCode, body)
	}
	// Basic credentials are not a push token: still 503.
	resp, body = do(t, "GET", n.url("/v2/team/never/manifests/1"), testUser, testPass, nil, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("logged-in GET of a never cached manifest: %d %s", resp.StatusCode, body)
	}
}

// TestHostedNamesNeverGoUpstream: a name hosted_names claims is not looked
// up upstream even while the upstream has it (dependency confusion).
func TestHostedNamesNeverGoUpstream(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "site/shadow", "1", 1, 1<<10)
	up.PushRandomImage(t, "team/public", "1", 1, 1<<10)
	n := startNora(t, options{
		upstreams:   []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		hostedNames: []string{"site/**"},
	})
	up.ResetCounters()
	f := func(method, path string, status int, code string) {
		t.Helper()
		resp, body := do(t, method, n.url(path), "", "", nil, nil)
		if resp.StatusCode != status || (method == "GET" && !strings.Contains(string(body), code)) {
			t.Fatalf("%s %s: %d %s; want %d %s", method, path, resp.StatusCode, body, status, code)
		}
	}
	f("GET", "/v2/site/shadow/manifests/1", 404, "MANIFEST_UNKNOWN")
	f("HEAD", "/v2/site/shadow/manifests/1", 404, "")
	f("GET", "/v2/site/shadow/blobs/sha256:"+strings.Repeat("0", 64), 404, "BLOB_UNKNOWN")
	f("GET", "/v2/site/shadow/tags/list", 404, "NAME_UNKNOWN")
	f("GET", "/v2/site/shadow/referrers/sha256:"+strings.Repeat("0", 64), 200, "manifests")
	if got := up.Requests(); got != 0 {
		t.Fatalf("reads of a hosted_names name sent %d requests upstream", got)
	}
	// ?ns= names the upstream explicitly: proxied, as ever.
	f("GET", "/v2/site/shadow/manifests/1?ns=docker.io", 200, "")
	f("GET", "/v2/team/public/manifests/1", 200, "")
}

// TestMirrorPathAgreesWithNS: podman and CRI-O mirrors send the registry as
// the first path element, containerd as ?ns=. Both reach a configured
// upstream, and both are refused alike (404 NAME_UNKNOWN naming the missing
// [[docker.upstreams]] entry) for a registry nora has no upstream for,
// without asking the default upstream.
func TestMirrorPathAgreesWithNS(t *testing.T) {
	hub := upstreamtest.New(t, upstreamtest.Options{})
	other := upstreamtest.New(t, upstreamtest.Options{})
	img := other.PushRandomImage(t, "org/img", "1", 1, 4<<10)
	want := digestOf(t, img)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{
		{Name: "docker.io", URL: hub.URL},
		{Name: "known.example", URL: other.URL},
	}})
	c := newCLI(t, n.Addr, "", "")
	hub.ResetCounters()

	// A configured registry, both ways.
	if got := c.mustCrane("digest", n.Addr+"/known.example/org/img:1"); got != want {
		t.Fatalf("path form digest %s, want %s", got, want)
	}
	resp, body := do(t, "HEAD", n.url("/v2/org/img/manifests/1?ns=known.example"), "", "", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != want {
		t.Fatalf("?ns= form: %d %s", resp.StatusCode, body)
	}
	if got := c.mustSkopeo("inspect", "--no-tags", "--registries-conf", mirrorConf(t, n.Addr, "known.example"),
		"--format", "{{.Digest}}", "docker://known.example/org/img:1"); got != want {
		t.Fatalf("skopeo through a registries.conf mirror: digest %s, want %s", got, want)
	}

	// A registry with no upstream: one answer for both forms.
	const hint = `add a [[docker.upstreams]] entry with name = \"missing.example\"`
	resp, pathBody := do(t, "GET", n.url("/v2/missing.example/org/img/manifests/1"), "", "", nil, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(pathBody), "NAME_UNKNOWN") || !strings.Contains(string(pathBody), hint) {
		t.Fatalf("path form: %d %s", resp.StatusCode, pathBody)
	}
	resp, nsBody := do(t, "GET", n.url("/v2/org/img/manifests/1?ns=missing.example"), "", "", nil, nil)
	if resp.StatusCode != 404 || string(nsBody) != string(pathBody) {
		t.Fatalf("?ns= form: %d %s; path form: %s", resp.StatusCode, nsBody, pathBody)
	}
	out, err := c.crane("digest", n.Addr+"/missing.example/org/img:1")
	if err == nil || !strings.Contains(out, "NAME_UNKNOWN") || !strings.Contains(out, "missing.example") {
		t.Fatalf("crane, path form: %v\n%s", err, out)
	}
	out, err = c.skopeo("inspect", "--no-tags", "--registries-conf", mirrorConf(t, n.Addr, "missing.example"),
		"docker://missing.example/org/img:1")
	// containers/image sends no ?ns=: the registry is the path's first
	// element, and nora's answer is in what it reports of the mirror.
	if err == nil || !strings.Contains(out, n.Addr+"/missing.example/org/img") ||
		!strings.Contains(out, "name unknown") || !strings.Contains(out, "[[docker.upstreams]]") {
		t.Fatalf("skopeo through a registries.conf mirror: %v\n%s", err, out)
	}
	if got := hub.Requests(); got != 0 {
		t.Fatalf("the default upstream was asked %d times for another registry's names", got)
	}

	// A repository pushed under such a name is hosted and stays servable.
	push := newCLI(t, n.Addr, testUser, testPass)
	site := randomImage(t, 16<<10, 1)
	push.mustCrane("push", imageTarball(t, site), n.Addr+"/missing.example/team/app:v1")
	checkPulls(t, push, n.Addr+"/missing.example/team/app", "v1", digestOf(t, site))
}

// mirrorConf writes a registries.conf that sends images of registry to
// nora as a podman/CRI-O mirror: <nora>/<registry>/<repository>. The
// registry's own location is a closed loopback port, so a failed mirror
// falls back to nothing.
func mirrorConf(t *testing.T, addr, registry string) string {
	t.Helper()
	conf := `[[registry]]
prefix = "` + registry + `"
location = "127.0.0.1:1"
insecure = true

[[registry.mirror]]
location = "` + addr + `/` + registry + `"
insecure = true
`
	path := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpstreamRefusalsOnTheWire: each upstream answer reaches the client
// as the OCI error its kind calls for, decided at the handler's edge: a
// 404 is the missing object's code, a refusal NAME_UNKNOWN, a rate limit
// 429 with the upstream's Retry-After, a failing upstream 503.
func TestUpstreamRefusalsOnTheWire(t *testing.T) {
	var status atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "42")
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(up.Close)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	blob := "/v2/app/blobs/sha256:" + strings.Repeat("1", 64)
	f := func(upStatus int, path string, wantStatus int, wantCode string) {
		t.Helper()
		status.Store(int32(upStatus))
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		wantError(t, fmt.Sprintf("upstream %d to %s", upStatus, path), wantStatus, wantCode, resp.StatusCode, body)
		if wantStatus == 429 && resp.Header.Get("Retry-After") != "42" {
			t.Fatalf("upstream 429 to %s: Retry-After %q, want the upstream's 42", path, resp.Header.Get("Retry-After"))
		}
	}
	f(404, "/v2/app/manifests/a", 404, "MANIFEST_UNKNOWN")
	f(200, "/v2/app/manifests/a", 404, "MANIFEST_UNKNOWN") // remembered
	f(404, blob, 404, "BLOB_UNKNOWN")
	f(404, "/v2/app/tags/list", 404, "NAME_UNKNOWN")
	f(401, "/v2/app/manifests/b", 404, "NAME_UNKNOWN")
	f(403, blob, 404, "NAME_UNKNOWN")
	f(429, "/v2/app/manifests/c", 429, "TOOMANYREQUESTS")
	f(429, blob, 429, "TOOMANYREQUESTS")
	f(429, "/v2/app/tags/list", 429, "TOOMANYREQUESTS")
	f(418, "/v2/app/manifests/d", 502, "UNKNOWN")
	// Last: failures open the upstream's breaker.
	f(503, "/v2/app/manifests/e", 503, "UNAVAILABLE")
	f(500, blob, 503, "UNAVAILABLE")
}

// TestLowPullBudgetServesCachedTag: while the upstream says its pull budget
// (ratelimit-remaining) is nearly spent, a cached tag is served stale with
// no HEAD; with budget left it is revalidated on every pull (ttl 0).
func TestLowPullBudgetServesCachedTag(t *testing.T) {
	const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`
	var remaining atomic.Value
	remaining.Store("100;w=21600")
	var heads atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/library/app/manifests/1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Ratelimit-Remaining", remaining.Load().(string))
		w.Header().Set("Docker-Content-Digest", digest.FromString(manifest).String())
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if r.Method == http.MethodHead {
			heads.Add(1)
			return
		}
		io.WriteString(w, manifest)
	}))
	t.Cleanup(up.Close)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	f := func(what string, stale string, wantHeads int32) {
		t.Helper()
		resp, body := do(t, "GET", n.url("/v2/app/manifests/1"), "", "", nil, nil)
		if resp.StatusCode != 200 || string(body) != manifest || resp.Header.Get("X-Nora-Stale") != stale || heads.Load() != wantHeads {
			t.Fatalf("%s: %d stale=%q after %d HEADs, want 200 stale=%q after %d\n%s", what, resp.StatusCode, resp.Header.Get("X-Nora-Stale"), heads.Load(), stale, wantHeads, body)
		}
	}
	f("cold", "", 0)
	f("revalidated", "", 1)
	remaining.Store("3;w=21600")
	f("revalidated, learns the budget is low", "", 2)
	f("budget low: stale, no HEAD", "1", 2)
}
