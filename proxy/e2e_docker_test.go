package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The end-to-end tests run a real registry behind a Docker-Hub-like token
// server, an in-process nora in front of it, and the real crane and skopeo
// CLIs as clients.

// startNora runs an in-process nora whose docker upstreams are ups.
func startNora(t testing.TB, ups ...docker.UpstreamConfig) *proxytest.Nora {
	t.Helper()
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = ups
	return proxytest.Start(t, cfg)
}

// client runs a registry CLI with a clean environment of its own.
func client(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (.ci/run installs it): %v", name, err)
	}
	home := t.TempDir()
	cmd := exec.Command(path, args...)
	cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func crane(t *testing.T, args ...string) (string, error) {
	return client(t, "crane", append([]string{"--insecure"}, args...)...)
}

func mustCrane(t *testing.T, args ...string) string {
	t.Helper()
	out, err := crane(t, args...)
	if err != nil {
		t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func skopeo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600)
	return client(t, "skopeo", append([]string{"--policy", policy}, args...)...)
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, b
}

func oneUpstream(t *testing.T) (*upstreamtest.Registry, *proxytest.Nora) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	return up, startNora(t, docker.UpstreamConfig{Name: "docker.io", URL: up.URL})
}

func TestPullByTagDigestAndPlatform(t *testing.T) {
	up, n := oneUpstream(t)
	img := up.PushRandomImage(t, "library/nginx", "latest", 2, 64<<10)
	idx := up.PushIndex(t, "library/multi", "v1")

	wantDigest, _ := img.Digest()
	if got := mustCrane(t, "digest", n.Addr+"/nginx:latest"); got != wantDigest.String() {
		t.Fatalf("digest through nora = %s, want %s", got, wantDigest)
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", n.Addr+"/nginx:latest", out)
	mustCrane(t, "pull", n.Addr+"/library/nginx@"+wantDigest.String(), out)
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if got := up.BlobGets(digest.Digest(d.String())); got != 1 {
			t.Errorf("layer %s fetched %d times upstream for nginx and library/nginx, want 1", d, got)
		}
	}

	im, _ := idx.IndexManifest()
	var arm, amd string
	for _, m := range im.Manifests {
		switch m.Platform.Architecture {
		case "arm64":
			arm = m.Digest.String()
		case "amd64":
			amd = m.Digest.String()
		}
	}
	if got := mustCrane(t, "digest", "--platform", "linux/arm64", n.Addr+"/multi:v1"); got != arm {
		t.Fatalf("arm64 digest = %s, want %s", got, arm)
	}
	mustCrane(t, "pull", "--platform", "linux/arm64", n.Addr+"/multi:v1", out)
	if up.ManifestGets("library/multi", amd) != 0 {
		t.Error("nora fetched the amd64 manifest nobody asked for")
	}
	dir := t.TempDir()
	if out, err := skopeo(t, "copy", "--src-tls-verify=false", "--override-arch", "arm64",
		"docker://"+n.Addr+"/multi:v1", "oci:"+dir+":x"); err != nil {
		t.Fatalf("skopeo copy --override-arch arm64: %v\n%s", err, out)
	}
	idxDigest, _ := idx.Digest()
	resp, body := get(t, "http://"+n.Addr+"/v2/library/multi/manifests/v1")
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != idxDigest.String() || digest.FromBytes(body).String() != idxDigest.String() {
		t.Fatalf("index bytes or digest changed: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
}

func TestNamespaceRouting(t *testing.T) {
	hub := upstreamtest.New(t, upstreamtest.Options{})
	other := upstreamtest.New(t, upstreamtest.Options{Username: "robot", Password: "s3cret"})
	n := startNora(t,
		docker.UpstreamConfig{Name: "docker.io", URL: hub.URL},
		docker.UpstreamConfig{Name: "mirror.test", URL: other.URL, Username: "robot", Password: "s3cret", Realm: other.Realm})
	img := other.PushRandomImage(t, "org/img", "1", 1, 16<<10)
	want, _ := img.Digest()

	// containerd hosts.toml mirrors keep the path and add ?ns=.
	resp, _ := get(t, "http://"+n.Addr+"/v2/org/img/manifests/1?ns=mirror.test")
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("?ns=mirror.test: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
	// Clients that cannot set ns name the upstream as the first element.
	if got := mustCrane(t, "digest", n.Addr+"/mirror.test/org/img:1"); got != want.String() {
		t.Fatalf("first-element routing: %s, want %s", got, want)
	}
	mustCrane(t, "pull", n.Addr+"/mirror.test/org/img:1", filepath.Join(t.TempDir(), "x.tar"))
	// Unknown ns is refused, never forwarded anywhere.
	resp, body := get(t, "http://"+n.Addr+"/v2/org/img/manifests/1?ns=unknown.example")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "NAME_UNKNOWN") {
		t.Fatalf("unknown ns: %d %s", resp.StatusCode, body)
	}
	// The default upstream does not have it.
	resp, body = get(t, "http://"+n.Addr+"/v2/org/img/manifests/1")
	if resp.StatusCode != 404 {
		t.Fatalf("default upstream: %d %s", resp.StatusCode, body)
	}
}

func TestStaleTagWhenUpstreamDown(t *testing.T) {
	up, n := oneUpstream(t)
	up.PushRandomImage(t, "library/app", "1", 1, 32<<10)
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", n.Addr+"/app:1", out)
	up.Stop()
	mustCrane(t, "pull", n.Addr+"/app:1", out)
	resp, _ := get(t, "http://"+n.Addr+"/v2/app/manifests/1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatalf("stale tag: status %d, X-Nora-Stale %q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, _ = get(t, "http://"+n.Addr+"/v2/app/manifests/never-pulled")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("never-cached tag with upstream down: %d, want 503", resp.StatusCode)
	}
	up.Start()
	// The circuit breaker lets a trial through after its cooldown.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, _ = get(t, "http://"+n.Addr+"/v2/app/manifests/1")
		if resp.Header.Get("X-Nora-Stale") == "" {
			break
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "" {
		t.Fatalf("after upstream came back: %d stale=%q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, body := get(t, "http://"+n.Addr+"/v2/app/manifests/missing")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
		t.Fatalf("missing tag: %d %s", resp.StatusCode, body)
	}
}

func TestBadBytesFromUpstreamAreRefused(t *testing.T) {
	f := func(name string, fault func(up *upstreamtest.Registry, d digest.Digest, size int64)) {
		t.Run(name, func(t *testing.T) {
			up, n := oneUpstream(t)
			img := up.PushRandomImage(t, "library/app", "1", 1, 1<<20)
			layers, _ := img.Layers()
			h, _ := layers[0].Digest()
			size, _ := layers[0].Size()
			d := digest.Digest(h.String())
			fault(up, d, size)
			out := filepath.Join(t.TempDir(), "img.tar")
			if o, err := crane(t, "pull", n.Addr+"/app:1", out); err == nil {
				t.Fatalf("pull of bad bytes succeeded: %s", o)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr+"/v2/app/blobs/"+d.String(), nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, rerr := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode == 200 {
					t.Fatal("a GET of the bad blob ended cleanly")
				}
			}
			n.WaitNoTempFiles(t, 20*time.Second)
			if n.Stored(cache.BlobKey(d)) {
				t.Fatal("bad blob was committed")
			}
			up.ClearFaults()
			mustCrane(t, "pull", n.Addr+"/app:1", out)
			if !n.Stored(cache.BlobKey(d)) {
				t.Fatal("good blob not committed after the upstream was fixed")
			}
		})
	}
	f("wrong bytes", func(up *upstreamtest.Registry, d digest.Digest, _ int64) { up.CorruptBlob(d) })
	f("dies mid-blob", func(up *upstreamtest.Registry, d digest.Digest, size int64) { up.DieMidBlob(d, size/2) })
}

func TestConcurrentColdGetsFetchOnce(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	up, n := oneUpstream(t)
	d, _ := up.PushBlobOfSize(t, "library/big", size)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + n.Addr + "/v2/big/blobs/" + d.String())
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			got, err := io.Copy(h, resp.Body)
			if err != nil || resp.StatusCode != 200 || got != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != d.String() {
				errs <- errors.New("client got wrong bytes: status " + resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := up.BlobGets(d); got != 1 {
		t.Fatalf("upstream served the blob %d times to 16 cold clients, want 1", got)
	}
	if got := up.BlobBytes(d); got != size {
		t.Fatalf("upstream sent %d bytes, want %d", got, size)
	}
}
