package cache_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
)

// plainStore hides the disk store's FileAdopter and FileOpener, as an
// object store would.
type plainStore struct{ cache.Store }

func TestCommitFile(t *testing.T) {
	f := func(name string, wrap func(*disk.Store) cache.Store) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := disk.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := cache.New(wrap(s), dir, slog.New(slog.DiscardHandler), metrics.NewSet())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
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
	f("adopt", func(s *disk.Store) cache.Store { return s })
	f("copy", func(s *disk.Store) cache.Store { return plainStore{s} })
}
