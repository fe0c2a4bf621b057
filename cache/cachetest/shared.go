package cachetest

import (
	"testing"

	"nora/cache"
	"nora/cache/disk"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
)

// SharedStores runs f with two stores that hold the same objects, as two
// nora instances see them: one disk store (one process opens a disk
// store) given twice, and two S3 clients on one bucket of a real
// versitygw.
func SharedStores(t *testing.T, f func(t *testing.T, a, b cache.Store)) {
	t.Run("disk", func(t *testing.T) {
		s, err := disk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, s, s)
	})
	t.Run("s3", func(t *testing.T) {
		s3test.Setenv(t)
		srv := s3test.Start(t)
		cfg := srv.Config(srv.NewBucket(t))
		open := func() cache.Store {
			s, err := s3store.Open(t.Context(), cfg, s3store.Options{SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		f(t, open(), open())
	})
}
