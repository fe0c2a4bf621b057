package cache_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"nora/cache"
)

// BenchmarkIndexAdded: writers record new objects at once, as the fills
// of a cold install do; an op is one Added, which returns once its entry
// is committed. One writer shows the latency of a lone commit.
func BenchmarkIndexAdded(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ix, _, err := cache.OpenIndex(filepath.Join(b.TempDir(), "index.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer ix.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						ix.Added(fmt.Sprintf("blobs/sha256/%02x/%d", i%256, i), 2048, false)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if _, _, n := ix.Usage(); n != int64(b.N) {
				b.Fatalf("%d objects recorded, want %d", n, b.N)
			}
		})
	}
}
