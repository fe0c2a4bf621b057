package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
)

// openCache opens a cache on a disk store in dir with its own metrics set.
func openCache(t *testing.T, dir string) (*cache.Cache, *metrics.Set) {
	t.Helper()
	return openCacheB(t, dir)
}

func openCacheB(t testing.TB, dir string) (*cache.Cache, *metrics.Set) {
	t.Helper()
	s, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	set := metrics.NewSet()
	c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), set)
	if err != nil {
		t.Fatal(err)
	}
	return c, set
}

// pull fills a proxied object of n random bytes seeded by seed and reads it.
func pull(t *testing.T, c *cache.Cache, seed, n int) digest.Digest {
	t.Helper()
	data := seeded(seed, n)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
	got, _, err := fetchAll(c, cache.BlobKey(d), cache.Expect{Digest: d, Size: int64(n)}, src.open)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("pull %d: %d bytes, %v", seed, len(got), err)
	}
	// The commit goes on behind the reader: a pull is over, for the
	// eviction tests' order of accesses, once it is indexed.
	c.WaitLater()
	return d
}

func seeded(seed, n int) []byte {
	b := randomBytes(n + seed)
	return b[seed:]
}

// push commits a hosted object as an upload does.
func push(t *testing.T, c *cache.Cache, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	tmp := filepath.Join(c.TempDir(), "upload-"+d.Encoded()[:12])
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitFile(context.Background(), tmp, cache.BlobKey(d), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return d
}

func exists(c *cache.Cache, d digest.Digest) bool {
	_, err := c.Stat(context.Background(), cache.BlobKey(d))
	return err == nil
}

// waitFor polls cond until it holds; the deadline only bounds a broken run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func TestEvictionKeepsProxiedUnderCap(t *testing.T) {
	c, set := openCache(t, t.TempDir())
	defer c.Close()
	hosted := push(t, c, seeded(999, 300<<10))
	const size, capBytes = 100 << 10, 1 << 20
	c.Start(cache.Limits{MaxSize: capBytes})
	var pulled []digest.Digest
	for i := range 20 {
		pulled = append(pulled, pull(t, c, i, size))
		// Keep the first one warm: LRU, not FIFO.
		obj, err := c.Open(context.Background(), cache.BlobKey(pulled[0]))
		if err == nil {
			obj.Body.Close()
		}
	}
	waitFor(t, "proxied usage at or under the cap", func() bool {
		p, _, _ := c.Index().Usage()
		return p <= capBytes
	})
	p, h, _ := c.Index().Usage()
	if float64(p) > float64(capBytes)*cache.LowWater+size {
		t.Errorf("proxied bytes %d, want about the low watermark %v", p, float64(capBytes)*cache.LowWater)
	}
	if h != 300<<10 || !exists(c, hosted) {
		t.Errorf("hosted bytes %d, hosted object there: %v", h, exists(c, hosted))
	}
	if !exists(c, pulled[len(pulled)-1]) {
		t.Error("the most recently pulled object was evicted")
	}
	if !exists(c, pulled[0]) {
		t.Error("the object read after every pull was evicted (not LRU)")
	}
	if exists(c, pulled[1]) {
		t.Error("the least recently used object survived")
	}
	var out bytes.Buffer
	set.WritePrometheus(&out)
	for _, m := range []string{"nora_evictions_total", "nora_evicted_bytes_total", `nora_storage_bytes{kind="hosted"} 307200`, "nora_storage_capacity_bytes 1048576"} {
		if !strings.Contains(out.String(), m) {
			t.Errorf("metrics lack %s:\n%s", m, out.String())
		}
	}
	// An evicted object is a miss, filled again.
	d := pull(t, c, 1, size)
	if !exists(c, d) {
		t.Error("an evicted object was not filled again")
	}
}

func TestEvictionSparesAReaderMidStream(t *testing.T) {
	c, _ := openCache(t, t.TempDir())
	defer c.Close()
	data := seeded(7, 4<<20)
	d := pull(t, c, 7, 4<<20)
	obj, err := c.Open(context.Background(), cache.BlobKey(d))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(obj.Body, head); err != nil {
		t.Fatal(err)
	}
	c.Start(cache.Limits{MaxSize: 1}) // everything proxied must go
	waitFor(t, "the object evicted", func() bool { return !exists(c, d) })
	rest, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || !bytes.Equal(append(head, rest...), data) {
		t.Fatalf("reader of an evicted object got %d bytes, err %v", len(head)+len(rest), err)
	}
}

func TestClaimMakesProxiedHosted(t *testing.T) {
	c, _ := openCache(t, t.TempDir())
	defer c.Close()
	d := pull(t, c, 3, 64<<10)
	if _, err := c.Claim(context.Background(), cache.BlobKey(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Claim(context.Background(), cache.BlobKey(digest.FromString("nothing"))); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("claim of a missing blob: %v", err)
	}
	c.Start(cache.Limits{MaxSize: 1})
	pull(t, c, 4, 64<<10) // wakes the evictor
	waitFor(t, "the unclaimed object evicted", func() bool { p, _, _ := c.Index().Usage(); return p == 0 })
	if !exists(c, d) {
		t.Fatal("a claimed (hosted) object was evicted")
	}
}

func TestReindexRebuildsUsage(t *testing.T) {
	f := func(name string, spoil func(path string)) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, _ := openCache(t, dir)
			var pulled []digest.Digest
			for i := range 5 {
				pulled = append(pulled, pull(t, c, i, 10<<10))
			}
			hostedBlob := push(t, c, seeded(50, 20<<10))
			c.Close()
			spoil(filepath.Join(dir, "index.db"))

			c, _ = openCache(t, dir)
			defer c.Close()
			c.SetMarkers(cache.Referenced(func(fn func(digest.Digest) error) error { return fn(hostedBlob) }))
			c.Start(cache.Limits{})
			waitFor(t, "the rebuilt index", func() bool {
				p, h, n := c.Index().Usage()
				return p == 5*10<<10 && h == 20<<10 && n == 6
			})
			// An object removed behind nora's back is dropped by nora reindex.
			os.Remove(filepath.Join(dir, "objects", filepath.FromSlash(cache.BlobKey(pulled[0]))))
			rep, err := c.Reindex(context.Background(), nil)
			if err != nil || rep.Dropped != 1 || rep.Objects != 5 || rep.ProxiedBytes != 4*10<<10 || rep.HostedBytes != 20<<10 {
				t.Fatalf("reindex: %+v %v", rep, err)
			}
		})
	}
	f("missing", func(path string) { os.Remove(path) })
	f("damaged", func(path string) { os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600) })
}

func TestGCSweepsUnreferencedHostedBlobs(t *testing.T) {
	c, _ := openCache(t, t.TempDir())
	defer c.Close()
	kept := push(t, c, seeded(1, 1000))
	dropped := push(t, c, seeded(2, 2000))
	proxied := pull(t, c, 3, 3000)
	var mu sync.Mutex
	refs := []digest.Digest{kept}
	c.SetMarkers(cache.Referenced(func(fn func(digest.Digest) error) error {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range refs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}))
	ctx := context.Background()

	// Within the grace nothing goes.
	rep, err := c.GC(ctx, cache.GCOptions{Grace: time.Hour})
	if err != nil || len(rep.Removed) != 0 {
		t.Fatalf("gc within grace: %+v %v", rep, err)
	}
	rep, err = c.GC(ctx, cache.GCOptions{Grace: 0, DryRun: true})
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0].Key != cache.BlobKey(dropped) || rep.Freed != 2000 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	if !exists(c, dropped) {
		t.Fatal("a dry run removed a blob")
	}
	rep, err = c.GC(ctx, cache.GCOptions{Grace: 0})
	if err != nil || len(rep.Removed) != 1 || rep.Freed != 2000 {
		t.Fatalf("gc: %+v %v", rep, err)
	}
	if exists(c, dropped) || !exists(c, kept) || !exists(c, proxied) {
		t.Fatalf("after gc: dropped %v kept %v proxied %v", exists(c, dropped), exists(c, kept), exists(c, proxied))
	}
	if _, h, _ := c.Index().Usage(); h != 1000 {
		t.Fatalf("hosted usage after gc %d, want 1000", h)
	}
}

// A marker that blocks until released lets a write claim a blob while a
// GC run is between its mark and its sweep.
func TestGCSparesABlobClaimedWhileItRuns(t *testing.T) {
	c, _ := openCache(t, t.TempDir())
	defer c.Close()
	blob := push(t, c, seeded(5, 500))
	marked, release := make(chan struct{}), make(chan struct{})
	c.SetMarkers(cache.Referenced(func(fn func(digest.Digest) error) error {
		close(marked)
		<-release
		return nil
	}))
	done := make(chan cache.GCReport)
	go func() {
		rep, err := c.GC(context.Background(), cache.GCOptions{})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-marked
	if _, err := c.GC(context.Background(), cache.GCOptions{}); !errors.Is(err, cache.ErrGCRunning) {
		t.Errorf("second gc: %v, want ErrGCRunning", err)
	}
	if _, err := c.Claim(context.Background(), cache.BlobKey(blob)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if rep := <-done; len(rep.Removed) != 0 || !exists(c, blob) {
		t.Fatalf("gc removed a blob claimed during the run: %+v", rep)
	}
}

func TestFullDiskPassesFillThrough(t *testing.T) {
	dir := cachetest.SmallFS(t, "4m")
	c, set := openCache(t, dir)
	defer c.Close()
	data := seeded(11, 8<<20)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1, pause: time.Millisecond}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			got, _, err := fetchAll(c, cache.BlobKey(d), cache.Expect{Digest: d, Size: int64(len(data))}, src.open)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("reader %d on a full disk: %d of %d bytes, %v", i, len(got), len(data), err)
			}
		})
	}
	wg.Wait()
	if exists(c, d) {
		t.Fatal("an object larger than the disk was stored")
	}
	waitFor(t, "temp files removed", func() bool {
		ents, _ := os.ReadDir(c.TempDir())
		return len(ents) == 0
	})
	var out bytes.Buffer
	set.WritePrometheus(&out)
	if !strings.Contains(out.String(), "nora_fill_passthrough_total") || strings.Contains(out.String(), "nora_fill_passthrough_total 0") {
		t.Errorf("pass-through not counted:\n%s", out.String())
	}
	// Bad bytes passed through still never end cleanly.
	bad := &slowSource{data: data, corruptAt: len(data) - 1, dieAt: -1}
	got, _, err := fetchAll(c, cache.BlobKey(d), cache.Expect{Digest: d, Size: int64(len(data))}, bad.open)
	if err == nil {
		t.Fatalf("corrupt bytes passed through with a clean end (%d bytes)", len(got))
	}
	// A small object still fits and is stored.
	small := pull(t, c, 12, 64<<10)
	if !exists(c, small) {
		t.Fatal("a small object was not stored")
	}
}

func TestReadyBelowMinFree(t *testing.T) {
	dir := cachetest.SmallFS(t, "4m")
	c, _ := openCache(t, dir)
	defer c.Close()
	if err := c.Ready(context.Background()); err != nil {
		t.Fatalf("ready before the limits are known: %v", err)
	}
	c.Start(cache.Limits{MinFree: 8 << 20}) // more than the disk holds
	waitFor(t, "ready to fail below min_free", func() bool {
		err := c.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "below min_free")
	})
	st, err := c.Stats(context.Background())
	if err != nil || st.FreeBytes <= 0 || st.FreeBytes >= 8<<20 || st.MinFree != 8<<20 {
		t.Fatalf("stats %+v %v", st, err)
	}
}
