package cache_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
)

// plainStore hides the disk store's FileAdopter and FileOpener, as an
// object store would.
type plainStore struct{ cache.Store }

// openWrapped is a cache on a disk store in dir as wrap shows it.
func openWrapped(t *testing.T, dir string, wrap func(*disk.Store) cache.Store) *cache.Cache {
	t.Helper()
	s, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(wrap(s), dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func adopting(s *disk.Store) cache.Store { return s }
func copying(s *disk.Store) cache.Store  { return plainStore{s} }

func TestCommitFile(t *testing.T) {
	f := func(name string, wrap func(*disk.Store) cache.Store) {
		t.Run(name, func(t *testing.T) {
			c := openWrapped(t, t.TempDir(), wrap)
			ctx := context.Background()
			data := []byte("uploaded layer bytes")
			d := digest.FromBytes(data)
			for i := range 2 { // the second commit finds the object there
				tmp := filepath.Join(c.TempDir(), "upload-test")
				if err := os.WriteFile(tmp, data, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := c.CommitFile(ctx, tmp, cache.BlobKey(d), int64(len(data))); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				if _, err := os.Stat(tmp); !os.IsNotExist(err) {
					t.Fatalf("commit %d left its temp file: %v", i, err)
				}
			}
			obj, err := c.Open(ctx, cache.BlobKey(d))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if string(got) != string(data) {
				t.Fatalf("committed %q", got)
			}
			if e, ok := c.Index().Get(cache.BlobKey(d)); !ok || e.Size != int64(len(data)) {
				t.Fatalf("index entry %+v %v", e, ok)
			}
			if err := c.CommitFile(ctx, filepath.Join(c.TempDir(), "missing"), "blobs/sha256/00/x", 1); err == nil {
				t.Fatal("commit of a missing temp file succeeded")
			}
		})
	}
	f("adopt", adopting)
	f("copy", copying)
}

// A fill commits its temp file whether the store adopts it or has it
// copied in; what is stored afterwards is the verified bytes, whole.
func TestFillCommits(t *testing.T) {
	f := func(name string, wrap func(*disk.Store) cache.Store, named bool) {
		t.Run(name, func(t *testing.T) {
			c := openWrapped(t, t.TempDir(), wrap)
			ctx := context.Background()
			data := randomBytes(1<<20 + 17)
			d := digest.FromBytes(data)
			src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
			fetch, open := c.Fetch, c.Open
			key := cache.BlobKey(d)
			if named {
				fetch, open, key = c.FetchNamed, c.OpenNamed, "npm/x/-/x-1.tgz"
			}
			got, _, err := readObject(fetch(ctx, key, cache.Expect{Digest: d, Size: -1}, src.open))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fill: %d bytes, %v", len(got), err)
			}
			c.WaitLater() // the commit behind the reader
			got, res, err := readObject(open(ctx, key))
			if err != nil || res != "hit" || !bytes.Equal(got, data) {
				t.Fatalf("committed object: %d bytes, %q, %v", len(got), res, err)
			}
			if e, ok := c.Index().Get(cache.BlobKey(d)); !ok || e.Size != int64(len(data)) {
				t.Fatalf("index entry %+v %v", e, ok)
			}
			if left, _ := os.ReadDir(c.TempDir()); len(left) != 0 {
				t.Fatalf("temp files left: %v", left)
			}
			if n := src.opens.Load(); n != 1 {
				t.Fatalf("upstream opened %d times", n)
			}
		})
	}
	f("adopt", adopting, false)
	f("copy", copying, false)
	f("adopt named", adopting, true)
	f("copy named", copying, true)
}

// lookingStore counts the lookups of a store that copies.
type lookingStore struct {
	cache.Store
	stats, gets atomic.Int32
}

func (s *lookingStore) Stat(ctx context.Context, key string) (cache.Info, error) {
	s.stats.Add(1)
	return s.Store.Stat(ctx, key)
}

func (s *lookingStore) Get(ctx context.Context, key string, off int64) (io.ReadCloser, cache.Info, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key, off)
}

// A cold miss looks for the object once, then fetches it.
func TestColdMissLooksOnce(t *testing.T) {
	var ls *lookingStore
	c := openWrapped(t, t.TempDir(), func(s *disk.Store) cache.Store { ls = &lookingStore{Store: s}; return ls })
	data := randomBytes(100 << 10)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
	if _, _, err := fetchAll(c, cache.BlobKey(d), cache.Expect{Digest: d, Size: -1}, src.open); err != nil {
		t.Fatal(err)
	}
	if stats, gets := ls.stats.Load(), ls.gets.Load(); stats+gets != 1 {
		t.Fatalf("cold miss: %d stats and %d gets, want one look", stats, gets)
	}
}
