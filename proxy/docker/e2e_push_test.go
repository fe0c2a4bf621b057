package docker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

// The end-to-end push tests drive the real crane and skopeo CLIs against an
// in-process nora on loopback.

func (n *noraUnderTest) url(path string) string { return n.URL + path }

// stored reports whether the shared store holds d.
func (n *noraUnderTest) stored(d string) bool { return n.Stored(cache.BlobKey(digest.Digest(d))) }

// checkPulls pulls ref by tag and by digest with crane and checks the digest
// did not change on the way.
func checkPulls(t *testing.T, c *cli, repo, tag, want string) {
	t.Helper()
	if got := c.mustCrane("digest", repo+":"+tag); got != want {
		t.Fatalf("digest of %s:%s = %s, want %s", repo, tag, got, want)
	}
	out := filepath.Join(t.TempDir(), "pulled.tar")
	c.mustCrane("pull", repo+":"+tag, out)
	c.mustCrane("pull", repo+"@"+want, out)
	if got := c.mustCrane("digest", repo+"@"+want); got != want {
		t.Fatalf("digest of %s@%s = %s", repo, want, got)
	}
}

func TestCranePushPull(t *testing.T) {
	n := startNora(t, options{})
	c := newCLI(t, n.Addr, testUser, testPass)
	img := randomImage(t, 512<<10, 3)
	want := digestOf(t, img)
	c.mustCrane("push", imageTarball(t, img), n.Addr+"/team/app:v1")
	checkPulls(t, c, n.Addr+"/team/app", "v1", want)
	// Anonymous pulls of hosted content (anonymous_read = true).
	checkPulls(t, newCLI(t, n.Addr, "", ""), n.Addr+"/team/app", "v1", want)
	// skopeo reads it back into an OCI layout with the same digest.
	dir := t.TempDir()
	c.mustSkopeo("copy", "--src-tls-verify=false", "docker://"+n.Addr+"/team/app:v1", "oci:"+dir+":x")
	if got := c.mustSkopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+n.Addr+"/team/app@"+want); got != want {
		t.Fatalf("skopeo inspect digest %s, want %s", got, want)
	}
	if len(n.TempFiles()) != 0 {
		t.Fatalf("temp files left after the push: %v", n.TempFiles())
	}
}

// TestSkopeoPushPull pushes with skopeo --dest-creds. containers/image
// decides from the /v2/ ping alone whether to send credentials; the Bearer
// challenge of the ping makes it fetch a token for its login, with
// anonymous reads on (the default) as well as off.
func TestSkopeoPushPull(t *testing.T) {
	for _, private := range []bool{false, true} {
		t.Run(fmt.Sprintf("anonymous_read=%v", !private), func(t *testing.T) {
			n := startNora(t, options{privateRead: private})
			c := newCLI(t, n.Addr, testUser, testPass)
			img := randomImage(t, 256<<10, 2)
			want := digestOf(t, img)
			c.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
				"oci:"+ociLayout(t, img, "v1"), "docker://"+n.Addr+"/library/tool:v1")
			checkPulls(t, c, n.Addr+"/library/tool", "v1", want)
			anon := newCLI(t, n.Addr, "", "")
			out, err := anon.crane("digest", n.Addr+"/library/tool:v1")
			if private && err == nil {
				t.Fatalf("anonymous pull with anonymous_read off succeeded: %s", out)
			}
			if !private && (err != nil || out != want) {
				t.Fatalf("anonymous pull: %s, %v", out, err)
			}
			// Pushing again the same image mounts nothing and uploads nothing new.
			c.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
				"oci:"+ociLayout(t, img, "v1"), "docker://"+n.Addr+"/library/tool:v2")
			checkPulls(t, c, n.Addr+"/library/tool", "v2", want)
		})
	}
}

// manifestBlobs lists the config and layer digests of a hosted image.
func manifestBlobs(t *testing.T, n *noraUnderTest, repo, ref string) []string {
	t.Helper()
	resp, body := do(t, "GET", n.url("/v2/"+repo+"/manifests/"+ref), "", "",
		map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("manifest %s:%s: %d %s", repo, ref, resp.StatusCode, body)
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	ds := []string{m.Config.Digest.String()}
	for _, l := range m.Layers {
		ds = append(ds, l.Digest.String())
	}
	return ds
}

func TestConcurrentPushesSharingLayers(t *testing.T) {
	n := startNora(t, options{})
	base := randomImage(t, 1<<20, 2)
	var imgs []v1.Image
	for range 2 {
		extra := randomImage(t, 256<<10, 1)
		layers, _ := extra.Layers()
		img, err := mutate.AppendLayers(base, layers...)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(imgs))
	outs := make([]string, len(imgs))
	for i, img := range imgs {
		tar := imageTarball(t, img)
		c := newCLI(t, n.Addr, testUser, testPass)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Same repository and another one: both share the base layers.
			repo := []string{"/shared/a", "/shared/b"}[i]
			outs[i], errs[i] = c.crane("push", tar, n.Addr+repo+":v1")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v\n%s", i, err, outs[i])
		}
	}
	c := newCLI(t, n.Addr, "", "")
	for i, repo := range []string{"shared/a", "shared/b"} {
		checkPulls(t, c, n.Addr+"/"+repo, "v1", digestOf(t, imgs[i]))
		for _, d := range manifestBlobs(t, n, repo, "v1") {
			if resp, _ := do(t, "HEAD", n.url("/v2/"+repo+"/blobs/"+d), "", "", nil, nil); resp.StatusCode != 200 {
				t.Errorf("%s: blob %s: HEAD %d", repo, d, resp.StatusCode)
			}
			if !n.stored(d) {
				t.Errorf("%s: blob %s not in the store", repo, d)
			}
		}
	}
	if len(n.TempFiles()) != 0 {
		t.Fatalf("temp files left: %v", n.TempFiles())
	}
}

// TestHostedShadowsUpstream: once pushed, a name is served from hosted
// state only, and the upstream is never asked about it.
func TestHostedShadowsUpstream(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	upImg := up.PushRandomImage(t, "library/app", "1", 1, 64<<10)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	c := newCLI(t, n.Addr, testUser, testPass)
	upDigest := digestOf(t, upImg)
	// Before the push the name is proxied.
	if got := c.mustCrane("digest", n.Addr+"/library/app:1"); got != upDigest {
		t.Fatalf("proxied digest %s, want %s", got, upDigest)
	}
	img := randomImage(t, 64<<10, 2)
	want := digestOf(t, img)
	c.mustCrane("push", imageTarball(t, img), n.Addr+"/library/app:1")
	up.ResetCounters()
	checkPulls(t, c, n.Addr+"/library/app", "1", want)
	// The upstream's other tag and digest do not leak through either.
	if out, err := c.crane("digest", n.Addr+"/library/app@"+upDigest); err == nil {
		t.Fatalf("upstream manifest served for a hosted name: %s", out)
	}
	resp, body := do(t, "GET", n.url("/v2/library/app/tags/list"), "", "", nil, nil)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"name":"library/app","tags":["1"]}` {
		t.Fatalf("tags/list: %d %s", resp.StatusCode, body)
	}
	if got := up.Requests(); got != 0 {
		t.Fatalf("the upstream was asked %d times about a hosted name", got)
	}
	// Names not hosted still come from the upstream.
	other := up.PushRandomImage(t, "library/other", "1", 1, 16<<10)
	if got := c.mustCrane("digest", n.Addr+"/other:1"); got != digestOf(t, other) {
		t.Fatalf("proxied name: %s", got)
	}
}

// TestChartArtifact pushes a Helm-chart-shaped OCI artifact (Debian 12 has
// no helm package): helm's config and chart layer media types, pushed with
// skopeo, read back with crane.
func TestChartArtifact(t *testing.T) {
	n := startNora(t, options{})
	c := newCLI(t, n.Addr, testUser, testPass)
	img := chartImage(t)
	want := digestOf(t, img)
	c.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
		"oci:"+ociLayout(t, img, "0.1.0"), "docker://"+n.Addr+"/charts/demo:0.1.0")
	if got := c.mustCrane("digest", n.Addr+"/charts/demo:0.1.0"); got != want {
		t.Fatalf("chart digest %s, want %s", got, want)
	}
	var m v1.Manifest
	if err := json.Unmarshal([]byte(c.mustCrane("manifest", n.Addr+"/charts/demo:0.1.0")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != helmConfigType || len(m.Layers) != 1 || m.Layers[0].MediaType != helmChartType {
		t.Fatalf("chart manifest changed: %+v", m)
	}
	chart := c.mustCrane("blob", n.Addr+"/charts/demo@"+m.Layers[0].Digest.String())
	if chart != chartBytes {
		t.Fatalf("chart layer = %q", chart)
	}
	resp, _ := do(t, "GET", n.url("/v2/charts/demo/manifests/0.1.0"), testUser, testPass, nil, nil)
	if resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("chart manifest served as %q", resp.Header.Get("Content-Type"))
	}
}

const (
	helmConfigType = "application/vnd.cncf.helm.config.v1+json"
	helmChartType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	chartBytes     = "not really a gzipped chart, but bytes all the same"
)

// chartArtifact is an OCI artifact laid out as helm push lays out a chart.
type chartArtifact struct {
	config, manifest []byte
	layer            v1.Layer
}

func (c chartArtifact) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c chartArtifact) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c chartArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c chartArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, _ := c.layer.Digest(); d == h {
		return c.layer, nil
	}
	return nil, fmt.Errorf("no layer %s", h)
}

func chartImage(t *testing.T) v1.Image {
	t.Helper()
	config := []byte(`{"apiVersion":"v2","name":"demo","version":"0.1.0"}`)
	layer := static.NewLayer([]byte(chartBytes), helmChartType)
	ld, _ := layer.Digest()
	cd, _, _ := v1.SHA256(bytes.NewReader(config))
	m, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: helmConfigType, Size: int64(len(config)), Digest: cd},
		Layers: []v1.Descriptor{{MediaType: helmChartType, Size: int64(len(chartBytes)), Digest: ld}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := partial.CompressedToImage(chartArtifact{config: config, manifest: m, layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	return img
}
