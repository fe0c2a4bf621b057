package proxy_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/prefetch"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
	"nora/upstream/upstreamtest"
)

// prefetchUpstreams are one test upstream of each format with content.
type prefetchUpstreams struct {
	docker *upstreamtest.Registry
	npm    *npmtest.Registry
	pypi   *pypitest.Server
	maven  *maventest.Repo
	cargo  *cargotest.Registry
	// multiArm and multiAmd are the platform manifests of library/multi:v1.
	multiArm, multiAmd string
	crate              []byte
	jar                []byte
}

func startPrefetchUpstreams(t *testing.T) *prefetchUpstreams {
	u := &prefetchUpstreams{docker: upstreamtest.New(t, upstreamtest.Options{}), npm: npmtest.NewRegistry(t)}
	u.docker.PushRandomImage(t, "library/app", "v1", 2, 32<<10)
	idx := u.docker.PushIndex(t, "library/multi", "v1")
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		switch m.Platform.Architecture {
		case "arm64":
			u.multiArm = m.Digest.String()
		case "amd64":
			u.multiAmd = m.Digest.String()
		}
	}
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		u.npm.Publish(t, "left-pad", v, 1024)
	}
	u.npm.Publish(t, "@acme/util", "0.1.0", 1024)

	dir := t.TempDir()
	wheel, sdist := pypitest.Build(t, dir, pypitest.Project{Name: "demo-pkg", Version: "1.0"})
	u.pypi = pypitest.New(t, pypitest.Options{})
	u.pypi.AddDist("demo-pkg", wheel, "")
	u.pypi.AddDist("demo-pkg", sdist, "")

	root := filepath.Join(dir, "m2")
	u.jar = []byte("PK jar bytes of org.example:lib:1.0")
	mavenFile(t, root, "org/example/lib/1.0/lib-1.0.pom", []byte(`<project><groupId>org.example</groupId><artifactId>lib</artifactId><version>1.0</version></project>`))
	mavenFile(t, root, "org/example/lib/1.0/lib-1.0.jar", u.jar)
	mavenFile(t, root, "org/example/parent/2.0/parent-2.0.pom", []byte(`<project><artifactId>parent</artifactId><version>2.0</version><packaging>pom</packaging></project>`))
	u.maven = maventest.New(t, root)

	u.cargo = cargotest.New(t, cargotest.Options{})
	u.crate = []byte("the bytes of tiny 0.1.0")
	u.cargo.Publish("tiny", "0.1.0", u.crate)
	return u
}

// mavenFile writes a repository file with its .sha1.
func mavenFile(t *testing.T, root, rel string, b []byte) {
	maventest.WriteFile(t, root, rel, b)
	sum := sha1.Sum(b)
	maventest.WriteFile(t, root, rel+".sha1", []byte(hex.EncodeToString(sum[:])))
}

func (u *prefetchUpstreams) stop() {
	u.docker.Stop()
	u.npm.Stop()
	u.pypi.Stop()
	u.maven.Stop()
	u.cargo.Stop()
}

func (u *prefetchUpstreams) config() proxy.AppConfig {
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: u.docker.URL}}
	cfg.Npm = npm.Config{Upstream: u.npm.URL, TTL: units.Duration(time.Minute)}
	cfg.PyPI = pypi.Config{Upstream: u.pypi.IndexURL, TTL: units.Duration(time.Minute)}
	cfg.Maven = maven.Config{Upstreams: []maven.UpstreamConfig{{URL: u.maven.URL}}, TTL: units.Duration(time.Minute)}
	cfg.Cargo = cargo.Config{Index: u.cargo.IndexURL, TTL: units.Duration(time.Minute)}
	return cfg
}

// runPrefetch posts list to the admin API and waits for the summary.
func runPrefetch(t *testing.T, n *proxytest.Nora, list, platform string) prefetch.State {
	t.Helper()
	cl := admin.NewClient(n.AdminSocket)
	if _, err := cl.StartPrefetch(context.Background(), []byte(list), platform); err != nil {
		t.Fatalf("POST /api/v1/prefetch: %v", err)
	}
	return waitPrefetch(t, cl)
}

// waitPrefetch waits for the end of the prefetch and checks its summary.
func waitPrefetch(t *testing.T, cl *admin.Client) prefetch.State {
	t.Helper()
	var st prefetch.State
	for deadline := time.Now().Add(2 * time.Minute); st.State != prefetch.Done; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("prefetch still running: %+v", st)
		}
		var err error
		if st, err = cl.Prefetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st.Summary == nil || int64(len(st.Summary.Items)) != st.Progress.Total || st.Progress.Done != st.Progress.Total {
		t.Fatalf("finished prefetch without a full summary: %+v", st)
	}
	return st
}

// statuses maps each item to its status (and reason when it failed).
func statuses(st prefetch.State) map[string]string {
	m := map[string]string{}
	for _, r := range st.Summary.Items {
		m[r.Text] = r.Status
		if r.Reason != "" {
			m[r.Text] += ": " + r.Reason
		}
	}
	return m
}

const prefetchList = `# Monday's rollout
app:v1
library/multi:v1        # every platform
left-pad@^1.0.0
@acme/util
demo-pkg==1.0
org.example:lib:1.0
org.example:parent:2.0
cargo:tiny@0.1.0
`

// TestPrefetchAllFormatsThenUpstreamsDown warms nora with one list of all
// five formats, then stops every upstream: the real clients get it all.
func TestPrefetchAllFormatsThenUpstreamsDown(t *testing.T) {
	u := startPrefetchUpstreams(t)
	n := proxytest.Start(t, u.config())

	st := runPrefetch(t, n, prefetchList, "")
	got := statuses(st)
	for _, r := range st.Summary.Items {
		if r.Status != prefetch.Fetched || r.Bytes == 0 {
			t.Errorf("%s: %s, %d bytes, want fetched: %v", r.Text, r.Status, r.Bytes, got)
		}
	}
	if st.Summary.Fetched != 8 || st.Progress.Bytes == 0 {
		t.Fatalf("summary %d fetched, %d bytes: %v", st.Summary.Fetched, st.Progress.Bytes, got)
	}
	if u.docker.ManifestGets("library/multi", u.multiAmd) != 1 || u.docker.ManifestGets("library/multi", u.multiArm) != 1 {
		t.Error("the index's platforms were not all fetched")
	}
	// Again: all of it is there.
	again := runPrefetch(t, n, prefetchList, "")
	if again.Summary.Cached != 8 {
		t.Fatalf("second run: %v, want all cached", statuses(again))
	}

	u.stop()
	pullEverything(t, n, u)
}

func pullEverything(t *testing.T, n *proxytest.Nora, u *prefetchUpstreams) {
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", n.Addr+"/app:v1", out)
	mustCrane(t, "pull", "--platform", "linux/arm64", n.Addr+"/multi:v1", out)
	mustCrane(t, "pull", "--platform", "linux/amd64", n.Addr+"/multi:v1", out)

	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	os.WriteFile(rc, []byte("registry="+n.URL+"/npm/\n"), 0o600)
	proj := t.TempDir()
	os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o600)
	for _, pkg := range []string{"left-pad@^1.0.0", "@acme/util"} {
		if out, err := npmtest.NPM(t, proj, home, "install", pkg, "--userconfig", rc, "--cache", filepath.Join(home, "cache"),
			"--no-audit", "--no-fund", "--fetch-retries", "0"); err != nil {
			t.Fatalf("npm install %s: %v\n%s", pkg, err, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(proj, "node_modules/left-pad/package.json")); !strings.Contains(string(b), `"1.1.0"`) {
		t.Errorf("npm installed %s, want left-pad 1.1.0", b)
	}

	dest := t.TempDir()
	if out, err := pip(t, "download", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
		"--no-deps", "--index-url", n.URL+"/simple/", "-d", dest, "demo-pkg==1.0"); err != nil {
		t.Fatalf("pip download wheel: %v\n%s", err, out)
	}
	if out, err := pip(t, "download", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
		"--no-build-isolation", "--no-binary", ":all:", "--no-deps", "--index-url", n.URL+"/simple/", "-d", dest, "demo-pkg==1.0"); err != nil {
		t.Fatalf("pip download sdist: %v\n%s", err, out)
	}
	if files, _ := filepath.Glob(filepath.Join(dest, "demo*")); len(files) != 2 {
		t.Errorf("pip downloaded %v, want the wheel and the sdist", files)
	}

	mustGet(t, n.URL+"/maven2/org/example/lib/1.0/lib-1.0.jar", u.jar)
	mustGet(t, n.URL+"/maven2/org/example/parent/2.0/parent-2.0.pom", nil)
	mustGet(t, n.URL+"/cargo/index/ti/ny/tiny", nil)
	mustGet(t, n.URL+"/cargo/api/v1/crates/tiny/0.1.0/download", u.crate)
}

// mustGet wants a 200, with body want when not nil.
func mustGet(t *testing.T, url string, want []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || want != nil && string(b) != string(want) {
		t.Fatalf("GET %s: %s %q", url, resp.Status, b)
	}
}

// pip runs Debian's pip with no config of the machine.
func pip(t *testing.T, args ...string) (string, error) {
	home := t.TempDir()
	cmd := exec.Command(pypitest.Python, append([]string{"-m", "pip"}, args...)...)
	cmd.Dir = home
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPrefetchPlatformAndFailures: --platform narrows an index to one
// platform; an unknown name fails with its reason while the rest goes on.
func TestPrefetchPlatformAndFailures(t *testing.T) {
	u := startPrefetchUpstreams(t)
	n := proxytest.Start(t, u.config())

	st := runPrefetch(t, n, "library/multi:v1\nno-such-package@^1\nleft-pad@^9\nleft-pad@nope\n"+
		"cargo:tiny@9.9.9\norg.example:nope:1.0\ndemo-pkg==9.9\n", "linux/arm64")
	got := statuses(st)
	if got["library/multi:v1"] != prefetch.Fetched {
		t.Fatalf("multi: %v", got)
	}
	if u.docker.ManifestGets("library/multi", u.multiAmd) != 0 || u.docker.ManifestGets("library/multi", u.multiArm) != 1 {
		t.Error("--platform linux/arm64 fetched other platforms, or not arm64")
	}
	if r := got["no-such-package@^1"]; !strings.HasPrefix(r, "failed: ") || !strings.Contains(r, "404") {
		t.Errorf("unknown package: %q, want failed with the 404", r)
	}
	if r := got["left-pad@^9"]; !strings.Contains(r, "no version of left-pad matches") {
		t.Errorf("no matching version: %q", r)
	}
	for item, want := range map[string]string{
		"left-pad@nope":        "left-pad has no dist-tag \"nope\"",
		"cargo:tiny@9.9.9":     "the index lists no version 9.9.9 of tiny",
		"org.example:nope:1.0": "GET /maven2/org/example/nope/1.0/nope-1.0.pom: 404",
		"demo-pkg==9.9":        "demo-pkg has no files of version 9.9",
	} {
		if r := got[item]; !strings.HasPrefix(r, "failed: ") || !strings.Contains(r, want) {
			t.Errorf("%s: %q, want failed with %q", item, r, want)
		}
	}
	if st.Summary.Failed != 6 || st.Summary.Fetched != 1 {
		t.Errorf("summary: %+v", st.Summary)
	}
}

// TestPrefetchBadListAndBusy: a bad list is refused with its lines; a
// second prefetch while one runs is refused with 409.
func TestPrefetchBadListAndBusy(t *testing.T) {
	u := startPrefetchUpstreams(t)
	n := proxytest.Start(t, u.config())
	cl := admin.NewClient(n.AdminSocket)
	ctx := context.Background()
	_, err := cl.StartPrefetch(ctx, []byte("ok:1\nNot An Image\n"), "")
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "line 2") {
		t.Fatalf("bad list: %v", err)
	}
	if _, err := cl.Prefetch(ctx); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("GET before any run: %v", err)
	}
	// Hold the upstream so that the first run is still going.
	release := make(chan struct{})
	u.npm.SetHook(func(http.ResponseWriter, *http.Request) bool { <-release; return false })
	if _, err := cl.StartPrefetch(ctx, []byte("left-pad@1\n"), ""); err != nil {
		t.Fatal(err)
	}
	_, err = cl.StartPrefetch(ctx, []byte("left-pad@2\n"), "")
	close(release)
	if !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("second prefetch while one runs: %v", err)
	}
}

// TestPrefetchIdentityStaysInside: with anonymous reads off the runner
// still pulls (its identity comes with the in-memory listener), while a
// network client gets nothing of it: not with any token of its form, and
// no answer of the network listener tells cache results.
func TestPrefetchIdentityStaysInside(t *testing.T) {
	u := startPrefetchUpstreams(t)
	cfg := u.config()
	cfg.Auth = &auth.Config{Htpasswd: proxytest.Htpasswd(t, "alice", "secret")}
	n := proxytest.Start(t, cfg)

	st := runPrefetch(t, n, "app:v1\nleft-pad@1\ndemo-pkg==1.0\n", "")
	if st.Summary.Fetched != 3 {
		t.Fatalf("prefetch with anonymous reads off: %v", statuses(st))
	}
	status := func(authz string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n.URL+"/npm/left-pad", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get(prefetch.CacheHeader)
	}
	forged := "noraprefetch_" + strings.Repeat("0", 64)
	for _, authz := range []string{"", "Bearer " + forged, basicAuth("prefetch", forged), basicAuth("prefetch", ""), "Bearer noraprefetch_"} {
		if code, _ := status(authz); code != http.StatusUnauthorized {
			t.Errorf("network client with %q: %d, want 401", authz, code)
		}
	}
	if code, cache := status(basicAuth("alice", "secret")); code != 200 || cache != "" {
		t.Errorf("alice: %d, cache header %q, want 200 and none", code, cache)
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestPrefetchPublicURLWithPath: links nora writes under a public_url with
// a path (a reverse proxy strips it) still lead the runner to the files.
func TestPrefetchPublicURLWithPath(t *testing.T) {
	u := startPrefetchUpstreams(t)
	cfg := u.config()
	cfg.Server = proxy.DefaultConfig()
	cfg.Server.PublicURL = "https://nora.test/mirror"
	n := proxytest.Start(t, cfg)
	st := runPrefetch(t, n, "left-pad@1\ndemo-pkg==1.0\n", "")
	if st.Summary.Fetched != 2 {
		t.Fatalf("%v", statuses(st))
	}
}

// TestPrefetchJoinsAClientsFill: a prefetch of a layer a client is
// pulling meanwhile joins that client's fill: one upstream download.
func TestPrefetchJoinsAClientsFill(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/big", "1", 1, 256<<10)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	layer := ld.String()
	var log proxytest.Log
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	n := proxytest.StartLogged(t, cfg, log.Logger())

	held, release := make(chan struct{}, 1), make(chan struct{})
	up.SetHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			held <- struct{}{}
			<-release
		}
		return false
	})
	pulled := make(chan error, 1)
	go func() {
		resp, err := http.Get(n.URL + "/v2/big/blobs/" + layer)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && digest.FromBytes(b).String() != layer {
				err = fmt.Errorf("the client got %d bytes of another blob: %s", len(b), resp.Status)
			}
		}
		pulled <- err
	}()
	<-held
	cl := admin.NewClient(n.AdminSocket)
	if _, err := cl.StartPrefetch(context.Background(), []byte("big:1\n"), ""); err != nil {
		t.Fatal(err)
	}
	// The prefetch's manifest and config are done (logged), and three
	// requests are in flight: the client's layer, the prefetch's layer and
	// the scrape that counts them.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the prefetch did not come to the layer:\n%s", log.String())
		}
		if strings.Count(log.String(), `"user_agent":"nora-prefetch"`) == 2 && inFlight(t, n) >= 3 {
			break
		}
	}
	close(release)
	if err := <-pulled; err != nil {
		t.Fatal(err)
	}
	st := waitPrefetch(t, cl)
	if r := st.Summary.Items[0]; r.Status != prefetch.Fetched || r.Bytes < 256<<10 {
		t.Fatalf("prefetch: %+v", r)
	}
	if got := up.BlobGets(digest.Digest(layer)); got != 1 {
		t.Errorf("the layer was downloaded %d times, want once for both", got)
	}
	if !strings.Contains(log.String(), `"cache":"fill-wait","remote":"`) {
		t.Errorf("no request joined the other's fill:\n%s", log.String())
	}
}

// inFlight reads nora_http_requests_in_flight.
func inFlight(t *testing.T, n *proxytest.Nora) int {
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "nora_http_requests_in_flight "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}
