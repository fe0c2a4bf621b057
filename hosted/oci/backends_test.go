package oci_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
	"nora/hosted/oci"
)

// opener opens a registry on a fresh cache of one backend.
type opener func(t *testing.T, cfg oci.Config) (*oci.Registry, *cache.Cache)

// onBackends runs test on a disk store and on an S3 bucket (a real
// versitygw on loopback), where upload sessions are shared as on a box
// with several instances.
func onBackends(t *testing.T, test func(t *testing.T, open opener)) {
	t.Run("disk", func(t *testing.T) { test(t, newRegistry) })
	t.Run("s3", func(t *testing.T) {
		s3test.Setenv(t)
		srv := s3test.Start(t)
		bucket := srv.NewBucket(t)
		test(t, func(t *testing.T, cfg oci.Config) (*oci.Registry, *cache.Cache) {
			cfg.SharedUploads = true
			c, store := s3Cache(t, srv, bucket)
			return openRegistry(t, store, c, cfg), c
		})
	})
}

// s3Cache is a cache of its own (local index and spool) on bucket, as one
// nora instance of several has.
func s3Cache(t *testing.T, srv *s3test.Server, bucket string) (*cache.Cache, cache.Store) {
	t.Helper()
	dir := t.TempDir()
	s, err := s3store.Open(context.Background(), srv.Config(bucket), s3store.Options{SpoolDir: dir + "/spool"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}
