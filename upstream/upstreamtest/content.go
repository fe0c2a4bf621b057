package upstreamtest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// Auth is what a client needs to push to or pull from this registry
// (anonymous unless Options.Username is set).
func (g *Registry) Auth() authn.Authenticator {
	if g.opts.Username == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: g.opts.Username, Password: g.opts.Password}
}

func (g *Registry) ref(t testing.TB, repo, tag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(g.Host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatalf("cannot parse reference: %v", err)
	}
	return ref
}

// PushRandomImage pushes an image of `layers` random gzipped layers, each
// holding a file of layerSize bytes, for this machine's platform.
func (g *Registry) PushRandomImage(t testing.TB, repo, tag string, layers int, layerSize int64) v1.Image {
	t.Helper()
	img := randomImage(t, layers, layerSize, v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	if err := remote.Write(g.ref(t, repo, tag), img, remote.WithAuth(g.Auth())); err != nil {
		t.Fatalf("cannot push %s:%s: %v", repo, tag, err)
	}
	return img
}

func randomImage(t testing.TB, layers int, layerSize int64, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, int64(layers))
	if err != nil {
		t.Fatalf("cannot make random image: %v", err)
	}
	return withPlatform(t, img, p)
}

func withPlatform(t testing.TB, img v1.Image, p v1.Platform) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("cannot read config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("cannot set platform: %v", err)
	}
	return img
}

// PushIndex pushes a multi-arch index (Docker manifest list) of a
// linux/amd64 and a linux/arm64 image, each with its platform in the config
// too, so that `crane --platform` and `skopeo --override-arch` pick one.
func (g *Registry) PushIndex(t testing.TB, repo, tag string) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, arch := range []string{"amd64", "arm64"} {
		p := v1.Platform{OS: "linux", Architecture: arch}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        randomImage(t, 1, 1024, p),
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	if err := remote.WriteIndex(g.ref(t, repo, tag), idx, remote.WithAuth(g.Auth())); err != nil {
		t.Fatalf("cannot push index %s:%s: %v", repo, tag, err)
	}
	return idx
}

// PushBlobOfSize uploads size pseudo-random bytes as one blob (a single
// monolithic POST) and returns its digest. Memory use does not grow with size.
func (g *Registry) PushBlobOfSize(t testing.TB, repo string, size int64) (digest.Digest, int64) {
	t.Helper()
	open := rawOpener(g.nextSeed(), size)
	d := digestOf(t, open)
	g.uploadBlob(t, repo, d, size, open)
	return d, size
}

// PushImageWithLayerSize pushes a one-layer OCI image whose layer is an
// uncompressed tar of about layerSize bytes (exactly, for a multiple of 512
// from 1536 on) holding one pseudo-random file. The layer is generated twice
// (to hash, to upload), never held in memory; the returned image regenerates
// it when read.
func (g *Registry) PushImageWithLayerSize(t testing.TB, repo, tag string, layerSize int64) v1.Image {
	t.Helper()
	open, size := tarOpener(g.nextSeed(), layerSize)
	d := digestOf(t, open)
	g.uploadBlob(t, repo, d, size, open)
	h, _ := v1.NewHash(d.String())
	layer := &genLayer{open: open, size: size, digest: h}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("cannot build image: %v", err)
	}
	img = withPlatform(t, img, v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	// The layer exists, so remote.Write only sends the config and manifest.
	if err := remote.Write(g.ref(t, repo, tag), img, remote.WithAuth(g.Auth())); err != nil {
		t.Fatalf("cannot push %s:%s: %v", repo, tag, err)
	}
	return img
}

func (g *Registry) nextSeed() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seed == 0 {
		g.seed = rand.Uint64() | 1 // two registries in one test get different content
	}
	g.seed++
	return g.seed
}

// uploadBlob POSTs the blob in one request (?digest=), which the registry
// streams to disk; a chunked upload would be buffered in its memory.
func (g *Registry) uploadBlob(t testing.TB, repo string, d digest.Digest, size int64, open func() io.ReadCloser) {
	t.Helper()
	body := open()
	defer body.Close()
	req, err := http.NewRequest(http.MethodPost, g.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+g.mint([]string{"repository:" + repo + ":pull,push"}, false))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("cannot upload blob: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("cannot upload blob: %s: %s", resp.Status, msg)
	}
}

func digestOf(t testing.TB, open func() io.ReadCloser) digest.Digest {
	t.Helper()
	rc := open()
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// rawOpener yields the same size pseudo-random bytes on every call.
func rawOpener(seed uint64, size int64) func() io.ReadCloser {
	return func() io.ReadCloser {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seed)
		return io.NopCloser(io.LimitReader(rand.NewChaCha8(key), size))
	}
}

// tarOpener yields a tar holding one pseudo-random file, sized so that the
// tar is about layerSize bytes: header (512), data padded to 512, and the
// two zero blocks that end an archive (1024).
func tarOpener(seed uint64, layerSize int64) (func() io.ReadCloser, int64) {
	n := max(layerSize-3*512, 0)
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%x.bin", seed), Mode: 0o644, Size: n, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
	tw.Flush()
	pad := (512 - n%512) % 512
	tail := make([]byte, pad+1024)
	data := rawOpener(seed, n)
	open := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(hdr.Bytes()), data(), bytes.NewReader(tail)))
	}
	return open, int64(hdr.Len()) + n + int64(len(tail))
}

// genLayer is an uncompressed OCI layer regenerated on every read.
type genLayer struct {
	open   func() io.ReadCloser
	size   int64
	digest v1.Hash
}

func (l *genLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *genLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *genLayer) Compressed() (io.ReadCloser, error)   { return l.open(), nil }
func (l *genLayer) Uncompressed() (io.ReadCloser, error) { return l.open(), nil }
func (l *genLayer) Size() (int64, error)                 { return l.size, nil }
func (l *genLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }
