package cache_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
)

// BenchmarkReconcile2k: what the lease holder pays before each eviction
// pass on S3: a listing of a bucket of 2,000 objects that another
// instance filled, folded into its index (versitygw on loopback); then
// the next pass, which finds nothing new.
func BenchmarkReconcile2k(b *testing.B) {
	const objects = 2000
	s3test.Setenv(b)
	srv := s3test.Start(b)
	bucket := srv.NewBucket(b)
	ctx := context.Background()
	open := func() (*cache.Cache, cache.Store) {
		dir := b.TempDir()
		s, err := s3store.Open(ctx, srv.Config(bucket), s3store.Options{SpoolDir: filepath.Join(dir, "spool")})
		if err != nil {
			b.Fatal(err)
		}
		c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c, s
	}
	_, filler := open()
	for i := range objects {
		data := seeded(i, 64)
		if err := filler.Put(ctx, cache.BlobKey(digest.FromBytes(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	var took, again time.Duration
	for b.Loop() {
		b.StopTimer()
		c, _ := open() // a new holder knows none of them
		if ok, err := c.LeaseStep(ctx); err != nil || !ok {
			b.Fatal("no lease", err)
		}
		b.StartTimer()
		start := time.Now()
		c.EvictPass(ctx)
		took += time.Since(start)
		b.StopTimer()
		if _, _, n := c.Index().Usage(); n != objects {
			b.Fatalf("reconciled %d objects, want %d", n, objects)
		}
		start = time.Now()
		c.EvictPass(ctx) // the next pass: nothing new
		again += time.Since(start)
		c.Close()
		filler.Delete(ctx, cache.LeaseKey) // not started: Close keeps the lease
		b.StartTimer()
	}
	b.ReportMetric(took.Seconds()*1000/float64(b.N), "ms/reconcile")
	b.ReportMetric(again.Seconds()*1000/float64(b.N), "ms/re-reconcile")
}
