package docker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"nora/proxy/admin"
)

// testClock is the clock of the tenants' rate limits: the test moves it
// instead of waiting.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// runGC runs GC through the admin socket, as `nora gc` does, and waits
// for it to finish.
func (n *noraUnderTest) runGC(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c := admin.NewClient(n.AdminSocket)
	if _, err := c.Start(ctx, "gc", false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, err := c.Job(ctx, "gc")
		if err != nil || st.State == admin.Failed {
			t.Fatalf("gc: %v %s", err, st.Error)
		}
		if st.State == admin.Done {
			return
		}
	}
	t.Fatal("gc did not finish")
}

// artifactConfigType is the config media type of the test artifacts.
const artifactConfigType = "application/vnd.nora.test.config.v1+json"

// artifact is an OCI artifact of one layer of layerSize random bytes
// whose config blob is config: two artifacts built on one config share
// that blob, so a push of the second uploads its layer and manifest only.
func artifact(t *testing.T, config []byte, layerSize int) v1.Image {
	t.Helper()
	layer := static.NewLayer(randomBytes(layerSize), types.OCILayer)
	ld, _ := layer.Digest()
	cd, _, _ := v1.SHA256(bytes.NewReader(config))
	m, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: artifactConfigType, Size: int64(len(config)), Digest: cd},
		Layers: []v1.Descriptor{{MediaType: types.OCILayer, Size: int64(layerSize), Digest: ld}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := partial.CompressedToImage(chartArtifact{config: config, manifest: m, layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// holds is what img adds to a tenant that holds none of it: its
// manifest, config and layers, each counted once.
func holds(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	total := int64(len(m)) + mf.Config.Size
	for _, l := range mf.Layers {
		total += l.Size
	}
	return total
}

// layerOf is the digest of img's only (or first) layer.
func layerOf(t *testing.T, img v1.Image) string {
	t.Helper()
	mf, err := img.Manifest()
	if err != nil || len(mf.Layers) == 0 {
		t.Fatalf("no layer: %v", err)
	}
	return mf.Layers[0].Digest.String()
}
