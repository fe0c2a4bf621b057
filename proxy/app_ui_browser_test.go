package proxy_test

import (
	"encoding/base64"
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
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/webhook"
	"nora/upstream/upstreamtest"
)

// TestUIInBrowser loads every page of the web UI in Debian's chromium,
// headless, after real pulls and pushes (crane) and publishes (npm):
// it follows the links, checks the numbers against the admin API, saves
// screenshots, fails on console errors and exceptions, and checks each
// page for labels, one h1, headings in order, alt texts and the contrast
// of the text as rendered. Without chromium it fails: CI installs it
// (.ci/setup-browser.sh); only -short skips it.
func TestUIInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	chromium := findChromium(t)
	n := startUINora(t)
	fillUINora(t, n)

	shots := os.Getenv("OUT")
	if shots == "" {
		var err error
		if shots, err = os.MkdirTemp("", "nora-ui-screenshots"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	waitDeliveries(t, n.URL, 4) // two pushes, two publishes
	b := newBrowser(t, chromium)
	pages := b.crawl(n.URL+"/ui/", shots)
	for _, want := range []string{"/ui/", "/ui/upstreams", "/ui/errors", "/ui/webhooks", "/ui/content/docker", "/ui/content/npm",
		"/ui/content/docker/team/app", "/ui/content/npm/@site/demo"} {
		if !pages[want] {
			t.Errorf("no link led to %s (visited %v)", want, keys(pages))
		}
	}
	checkUINumbers(t, b, n.URL)
	b.phone(n.URL+"/ui/", filepath.Join(shots, "phone-overview.png"))
	b.phone(n.URL+"/ui/content/docker/team/app", filepath.Join(shots, "phone-image.png"))
}

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (.ci/setup-browser.sh installs it; go test -short skips this test)")
	return ""
}

// startUINora runs a nora with a docker upstream, hosted npm packages
// under @site, anonymous reads, a user who may write, and a webhook.
func startUINora(t *testing.T) *proxytest.Nora {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "library/nginx", "latest", 2, 64<<10)
	up.PushIndex(t, "library/multi", "v1")
	dc := docker.DefaultConfig()
	dc.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(receiver.Close)
	return proxytest.Start(t, proxy.AppConfig{Docker: dc, Npm: npm.Config{HostedNames: []string{"@site/*"}}, Auth: ac,
		Build: proxy.Build{Version: "v0.0.0-ui"}, Webhooks: []webhook.Config{{Name: "ci", URL: receiver.URL}}})
}

// fillUINora pulls through nora (a miss, then hits) and pushes and
// publishes to it with the real clients.
func fillUINora(t *testing.T, n *proxytest.Nora) {
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", n.Addr+"/nginx:latest", out)
	mustCrane(t, "pull", n.Addr+"/nginx:latest", out)
	mustCrane(t, "pull", "--platform", "linux/arm64", n.Addr+"/multi:v1", out)
	pushRandom(t, n.Addr, "team/app:v1", "team/app:v2")
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	lines := "registry=" + n.URL + "/npm/\nfetch-retries=0\nupdate-notifier=false\naudit=false\nfund=false\n" +
		strings.TrimPrefix(n.URL, "http:") + "/npm/:_auth=" + base64.StdEncoding.EncodeToString([]byte("ci:secret")) + "\n"
	if err := os.WriteFile(rc, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		dir := npmtest.WritePackage(t, "@site/demo", v, nil, "module.exports = 1;\n")
		if out, err := npmtest.NPM(t, dir, home, "publish", "--userconfig", rc, "--cache", filepath.Join(home, "cache")); err != nil {
			t.Fatalf("npm publish %s: %v\n%s", v, err, out)
		}
	}
	proj := t.TempDir()
	os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"proj","version":"1.0.0","private":true}`), 0o600)
	if out, err := npmtest.NPM(t, proj, home, "install", "@site/demo@1.0.0", "--userconfig", rc, "--cache", filepath.Join(home, "cache")); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// pushRandom pushes a new random image to refs on host with crane,
// logged in as ci.
func pushRandom(t *testing.T, host string, refs ...string) {
	img, err := random.Image(8<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := name.ParseReference("example.invalid/img:x")
	if err := tarball.WriteToFile(tar, ref, img); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	crane := func(args ...string) {
		cmd := exec.Command("crane", append([]string{"--insecure"}, args...)...)
		cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("crane %s: %v\n%s", args[0], err, out)
		}
	}
	crane("auth", "login", host, "-u", "ci", "-p", "secret")
	for _, r := range refs {
		crane("push", tar, host+"/"+r)
	}
}
