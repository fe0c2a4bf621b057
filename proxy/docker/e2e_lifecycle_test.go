package docker_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// hostedBlobs lists the store keys of img's manifest, config and layers.
func hostedBlobs(t *testing.T, img v1.Image) map[string]bool {
	t.Helper()
	keys := map[string]bool{cache.BlobKey(digest.Digest(digestOf(t, img))): true}
	cfg, _ := img.ConfigName()
	keys[cache.BlobKey(digest.Digest(cfg.String()))] = true
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		keys[cache.BlobKey(digest.Digest(d.String()))] = true
	}
	return keys
}

// proxiedOnDisk adds up the object files that are not in hosted.
func (n *noraUnderTest) proxiedOnDisk(hosted map[string]bool) (total, largest int64) {
	root := filepath.Join(n.DataDir, "objects")
	filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if fi, err := d.Info(); err == nil && !hosted[filepath.ToSlash(rel)] {
			total += fi.Size()
			largest = max(largest, fi.Size())
		}
		return nil
	})
	return total, largest
}

func TestCapEvictsLeastRecentlyPulled(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	const images, capBytes = 8, 700 << 10
	for i := range images {
		up.PushRandomImage(t, fmt.Sprintf("library/img%d", i), "1", 2, 96<<10)
	}
	n := startNora(t, options{
		upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		limits:    &cache.Limits{MaxSize: capBytes},
	})
	c := newCLI(t, n.Addr, testUser, testPass)
	site := randomImage(t, 128<<10, 2)
	c.mustCrane("push", imageTarball(t, site), n.Addr+"/site/app:v1")
	hosted := hostedBlobs(t, site)

	for i := range images {
		c.mustCrane("pull", fmt.Sprintf("%s/img%d:1", n.Addr, i), filepath.Join(t.TempDir(), "img.tar"))
	}
	// Eviction runs in the background: wait for it, within one object.
	var total, largest int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		total, largest = n.proxiedOnDisk(hosted)
		if total <= capBytes+largest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxied content on disk %d bytes, cap %d", total, capBytes)
		}
	}
	for key := range hosted {
		if !n.Stored(key) {
			t.Fatalf("hosted object %s was evicted", key)
		}
	}
	up.Stop()
	c.mustCrane("pull", fmt.Sprintf("%s/img%d:1", n.Addr, images-1), filepath.Join(t.TempDir(), "last.tar"))
	checkPulls(t, c, n.Addr+"/site/app", "v1", digestOf(t, site))
	if out, err := c.crane("pull", n.Addr+"/img0:1", filepath.Join(t.TempDir(), "first.tar")); err == nil {
		t.Fatalf("the least recently pulled image still pulls with the upstream down; proxied on disk %d of cap %d\n%s", total, capBytes, out)
	}
}

func TestColdPullIntoFullDisk(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushImageWithLayerSize(t, "library/big", "1", 3<<20)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	layer := digest.Digest(ld.String())

	disk := proxytest.NewDisk(t, "8m")
	n := startNora(t, options{
		upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		storage:   disk.Path,
		limits:    &cache.Limits{},
	})
	disk.Fill(t, 1<<20) // less than the layer
	c := newCLI(t, n.Addr, "", "")
	// crane checks every digest of what it pulls.
	c.mustCrane("pull", n.Addr+"/big:1", filepath.Join(t.TempDir(), "big.tar"))
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			resp, err := http.Get(n.URL + "/v2/big/blobs/" + layer.String())
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			size, err := io.Copy(h, resp.Body)
			if err != nil || resp.StatusCode != 200 || "sha256:"+hex.EncodeToString(h.Sum(nil)) != layer.String() {
				t.Errorf("client %d on a full disk: %d, %d bytes, %v", i, resp.StatusCode, size, err)
			}
		})
	}
	wg.Wait()
	if n.Stored(cache.BlobKey(layer)) {
		t.Fatal("a layer larger than the free space was stored")
	}
	n.WaitNoTempFiles(t, 10*time.Second)
	resp, body := getBody(t, n.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, "nora_fill_passthrough_total") || strings.Contains(body, "nora_fill_passthrough_total 0\n") {
		t.Fatalf("pass-throughs not counted: %s", body)
	}

	disk.Free(t)
	c.mustCrane("pull", n.Addr+"/big:1", filepath.Join(t.TempDir(), "big2.tar"))
	if !n.Stored(cache.BlobKey(layer)) {
		t.Fatal("the layer was not stored once space was freed")
	}
	if _, err := os.Stat(filepath.Join(disk.Path, "objects")); err != nil {
		t.Fatal(err)
	}
}

func getBody(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestStreamingReaderOutlivesEviction(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	const size = 16 << 20
	big, _ := up.PushBlobOfSize(t, "library/big", size)
	n := startNora(t, options{
		upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		limits:    &cache.Limits{MaxSize: size + size/2},
	})
	url := n.URL + "/v2/big/blobs/" + big.String()
	resp, _ := getBody(t, url) // cached now
	if resp.StatusCode != 200 {
		t.Fatalf("cold GET: %d", resp.StatusCode)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	// Newer pulls push the big blob out while its reader is mid-stream.
	for i := 0; n.Stored(cache.BlobKey(big)); i++ {
		if i > 50 {
			t.Fatal("the big blob was never evicted")
		}
		d, _ := up.PushBlobOfSize(t, "library/other", 2<<20+int64(i))
		if r, _ := getBody(t, n.URL+"/v2/other/blobs/"+d.String()); r.StatusCode != 200 {
			t.Fatalf("pull of a new blob: %d", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rest, err := io.Copy(h, resp.Body)
	if err != nil || rest != size-1<<20 || "sha256:"+hex.EncodeToString(h.Sum(nil)) != big.String() {
		t.Fatalf("the reader of an evicted blob got %d more bytes, %v", rest, err)
	}
}
