package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
)

// benchInventory is an inventory of a disk cache holding files files of
// cached npm packages, ten versions each.
func benchInventory(b *testing.B, files int) *Inventory {
	b.Helper()
	dir := b.TempDir()
	store, err := disk.Open(filepath.Join(dir, "objects"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := cache.New(store, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for n := range files {
		name, ver := fmt.Sprintf("pkg-%d", n/10), fmt.Sprintf("1.0.%d", n%10)
		body := []byte(name + "@" + ver)
		d := digest.FromBytes(body)
		if err := c.PutBlob(ctx, d, body); err != nil {
			b.Fatal(err)
		}
		if err := c.PutRef(ctx, "refs/npm/"+name+"/-/"+name+"-"+ver+".tgz", cache.Ref{Digest: d}); err != nil {
			b.Fatal(err)
		}
	}
	return New(Deps{Cache: c, Store: store})
}

// The cost of `nora cache ls` (100 items) and `nora packages ls npm` (all
// 1000 packages) on a cache of 10000 npm files.
func BenchmarkListings(b *testing.B) {
	inv := benchInventory(b, 10_000)
	ctx := context.Background()
	b.Run("cache-ls-100", func(b *testing.B) {
		for b.Loop() {
			if l, err := inv.Cached(ctx, "npm", 100); err != nil || len(l) != 100 {
				b.Fatal(len(l), err)
			}
		}
	})
	b.Run("packages-ls-npm-1000", func(b *testing.B) {
		for b.Loop() {
			if l, err := inv.Packages(ctx, "npm", ""); err != nil || len(l) != 1000 {
				b.Fatal(len(l), err)
			}
		}
	})
	b.Run("packages-ls-npm-one", func(b *testing.B) {
		for b.Loop() {
			if l, err := inv.Packages(ctx, "npm", "pkg-500"); err != nil || len(l) != 1 || len(l[0].Versions) != 10 {
				b.Fatal(l, err)
			}
		}
	})
}
