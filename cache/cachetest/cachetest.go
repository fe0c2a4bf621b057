// Package cachetest builds a real disk-backed cache.Cache for tests.
package cachetest

import (
	"log/slog"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/disk"
)

// Open returns a cache on a disk store in dir, closed when the test ends.
func Open(t testing.TB, dir string) *cache.Cache {
	t.Helper()
	c, _ := OpenStore(t, dir)
	return c
}

// OpenStore is Open that also returns the cache's store, for tests that
// damage it behind the cache's back or hand it to hosted state.
func OpenStore(t testing.TB, dir string) (*cache.Cache, cache.Store) {
	t.Helper()
	s, err := disk.Open(dir)
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
