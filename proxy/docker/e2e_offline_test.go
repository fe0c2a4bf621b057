package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
