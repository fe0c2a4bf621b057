package oci_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/cachetest"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
	"nora/hosted/oci"
)

// BenchmarkManifestByTag: resolving a hosted manifest by tag, what every
// pull starts with, on disk and on a loopback S3 bucket.
func BenchmarkManifestByTag(b *testing.B) {
	run := func(b *testing.B, c *cache.Cache, store cache.Store) {
		r, err := oci.Open(context.Background(), store, c, "", oci.Config{}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		ctx := context.Background()
		cfg := []byte(`{}`)
		d, _ := r.StartUpload("app", "ci")
		d.Write(bytes.NewReader(cfg), -1, 2)
		if err := r.Commit(ctx, d, digest.FromBytes(cfg)); err != nil {
			b.Fatal(err)
		}
		r.Release(d)
		if _, err := r.PutManifest(ctx, "app", "", []string{"v1"}, imageManifest(digest.FromBytes(cfg), 2, nil, ""), ociManifest); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := r.Manifest("app", "", "v1"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("disk", func(b *testing.B) {
		c, store := cachetest.OpenStore(b, b.TempDir())
		run(b, c, store)
	})
	b.Run("s3", func(b *testing.B) {
		s3test.Setenv(b)
		srv := s3test.Start(b)
		dir := b.TempDir()
		s, err := s3store.Open(context.Background(), srv.Config(srv.NewBucket(b)), s3store.Options{SpoolDir: dir + "/spool"})
		if err != nil {
			b.Fatal(err)
		}
		c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c, s)
	})
}
