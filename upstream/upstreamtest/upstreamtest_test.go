package upstreamtest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// readLayer reads a layer's blob through the registry; it returns the
// error gcr reports (a digest mismatch, a cut connection).
func readLayer(t *testing.T, g *Registry, repo string, d digest.Digest) error {
	t.Helper()
	l, err := remote.Layer(mustRef(t, g.Host+"/"+repo+"@"+d.String()).(name.Digest), remote.WithAuth(g.Auth()))
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

func layerDigests(t *testing.T, img v1.Image) []digest.Digest {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ds []digest.Digest
	for _, l := range ls {
		h, _ := l.Digest()
		ds = append(ds, digest.Digest(h.String()))
	}
	return ds
}

func TestTokenDanceAndCounters(t *testing.T) {
	g := New(t, Options{Username: "u", Password: "p"})
	pushed := g.PushRandomImage(t, "library/app", "v1", 2, 1000)
	g.ResetCounters()

	ref := mustRef(t, g.Host+"/library/app:v1")
	if _, err := remote.Image(ref, remote.WithAuth(authn.Anonymous)); err == nil {
		t.Fatal("pulled without credentials")
	}
	img, err := remote.Image(ref, remote.WithAuth(g.Auth()))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pushed.Digest()
	if got, _ := img.Digest(); got != want {
		t.Fatalf("pulled %s, pushed %s", got, want)
	}
	for _, d := range layerDigests(t, img) {
		if err := readLayer(t, g, "library/app", d); err != nil {
			t.Fatal(err)
		}
		if g.BlobGets(d) != 1 || g.BlobBytes(d) == 0 {
			t.Fatalf("blob %s: %d GETs, %d bytes", d, g.BlobGets(d), g.BlobBytes(d))
		}
	}
	if n := g.ManifestGets("library/app", "v1"); n != 1 {
		t.Fatalf("manifest GETs %d, want 1", n)
	}
	if g.TokensIssued() == 0 || g.Requests() <= g.ManifestGets("library/app", "v1") {
		t.Fatalf("tokens %d, requests %d", g.TokensIssued(), g.Requests())
	}
}

func TestChallenge(t *testing.T) {
	g := New(t, Options{})
	g.PushRandomImage(t, "a/b", "v1", 1, 10)
	g.ResetCounters()
	f := func(path, wantChallenge string) {
		t.Helper()
		resp, err := http.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != wantChallenge {
			t.Fatalf("%s: %d %q, want 401 %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
		}
	}
	f("/v2/", fmt.Sprintf(`Bearer realm=%q,service="test-registry"`, g.Realm))
	f("/v2/a/b/manifests/v1", fmt.Sprintf(`Bearer realm=%q,service="test-registry",scope="repository:a/b:pull"`, g.Realm))

	// A token is good for its scope only, and the token server is another origin.
	tok := func(scope string) string {
		resp, err := http.Get(g.Realm + "?service=test-registry&scope=" + scope)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		s, _, _ := strings.Cut(strings.SplitN(string(b), `"token":"`, 2)[1], `"`)
		return s
	}
	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/v2/a/b/manifests/v1", tok("repository:other:pull")); resp.StatusCode != 401 {
		t.Fatalf("token for another repository: %d", resp.StatusCode)
	}
	resp := get("/v2/a/b/manifests/v1", tok("repository:a/b:pull"))
	if resp.StatusCode != 200 || resp.Header.Get("Ratelimit-Remaining") != "100;w=21600" {
		t.Fatalf("%d, ratelimit-remaining %q", resp.StatusCode, resp.Header.Get("Ratelimit-Remaining"))
	}
	if g.TokensIssued() != 2 {
		t.Fatalf("tokens issued %d, want 2", g.TokensIssued())
	}
}

func TestFaults(t *testing.T) {
	g := New(t, Options{})
	img := g.PushRandomImage(t, "x", "v1", 2, 100_000)
	ds := layerDigests(t, img)
	g.ResetCounters()

	g.CorruptBlob(ds[0])
	g.DieMidBlob(ds[1], 1000)
	if err := readLayer(t, g, "x", ds[0]); err == nil || !strings.Contains(err.Error(), "error verifying") {
		t.Fatalf("corrupt blob: err = %v", err)
	}
	if err := readLayer(t, g, "x", ds[1]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("blob cut mid-way: err = %v", err)
	}
	if n := g.BlobBytes(ds[1]); n != 1000 {
		t.Fatalf("bytes before the cut: %d", n)
	}

	g.ClearFaults()
	g.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	for _, d := range ds {
		if err := readLayer(t, g, "x", d); err != nil {
			t.Fatalf("after ClearFaults: %v", err)
		}
	}
	if _, err := remote.Image(mustRef(t, g.Host+"/x:v1"), remote.WithRetryStatusCodes()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("hooked manifest: err = %v", err)
	}
}

func TestStopStart(t *testing.T) {
	g := New(t, Options{})
	g.PushRandomImage(t, "x", "v1", 1, 10)
	url := g.URL
	g.Stop()
	if _, err := http.Get(url + "/v2/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stopped registry: err = %v", err)
	}
	if _, err := http.Get(g.Realm); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stopped token server: err = %v", err)
	}
	g.Start()
	if g.URL != url {
		t.Fatalf("URL changed: %s -> %s", url, g.URL)
	}
	if _, err := remote.Image(mustRef(t, g.Host+"/x:v1")); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}

func TestPushIndex(t *testing.T) {
	g := New(t, Options{})
	g.PushIndex(t, "multi", "latest")
	ref := mustRef(t, g.Host+"/multi:latest")
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != arch || cf.OS != "linux" {
			t.Fatalf("%s: config %+v, %v", arch, cf, err)
		}
	}
}

func TestLargeContentStreams(t *testing.T) {
	const size = 64 << 20
	g := New(t, Options{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	d, n := g.PushBlobOfSize(t, "big", size)
	img := g.PushImageWithLayerSize(t, "big", "v1", size)

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > size/2 {
		t.Fatalf("pushing 2 x %d bytes allocated %d bytes", size, grew)
	}
	if n != size {
		t.Fatalf("size %d", n)
	}
	if err := readLayer(t, g, "big", d); err != nil {
		t.Fatal(err)
	}
	l := layerDigests(t, img)[0]
	if ls, _ := img.Layers(); len(ls) == 1 {
		if s, _ := ls[0].Size(); s != size {
			t.Fatalf("layer size %d, want %d", s, size)
		}
	}
	// The image pulled back names the pushed layer, whose bytes hash to it.
	pulled, err := remote.Image(mustRef(t, g.Host+"/big:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := layerDigests(t, pulled)[0]; got != l {
		t.Fatalf("pulled layer %s, pushed %s", got, l)
	}
	h := sha256.New()
	ls, _ := pulled.Layers()
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != l {
		t.Fatalf("layer bytes hash to %s, want %s", got, l)
	}
}
