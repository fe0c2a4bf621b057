package pypi

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/cachetest"
)

// instance opens a registry on store with a cache of its own, as one
// nora instance of several does.
func instance(t *testing.T, store cache.Store) *Registry {
	t.Helper()
	c, err := cache.New(store, t.TempDir(), slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return openRegistry(t, &testCache{Cache: c, store: store})
}

// TestSharedStore: what one instance uploads the other serves at once,
// and files uploaded at the same moment through both all land.
func TestSharedStore(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		ctx := t.Context()
		a, b := instance(t, sa), instance(t, sb)
		w := testWheel(t, "acme-lib", "1.0", "")
		if _, _, err := publish(a, wheelRelease("acme-lib", "1.0", w), w); err != nil {
			t.Fatal(err)
		}
		p, err := b.Project(ctx, "acme-lib")
		if err != nil || len(p.Files) != 1 {
			t.Fatalf("the other instance: %v, %+v", err, p)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			r, ver := a, fmt.Sprintf("1.1.%d", i)
			if i%2 == 1 {
				r = b
			}
			w := testWheel(t, "acme-lib", ver, "")
			wg.Go(func() {
				if _, _, err := publish(r, wheelRelease("acme-lib", ver, w), w); err != nil {
					t.Errorf("upload %s: %v", ver, err)
				}
			})
		}
		wg.Wait()
		for _, r := range []*Registry{a, b} {
			p, err := r.Project(ctx, "acme-lib")
			if err != nil || len(p.Files) != 9 {
				t.Fatalf("%v, %d files, want 9: %v", err, len(p.Files), p.Versions())
			}
		}
		if _, err := b.Yank(ctx, "acme-lib", "1.0", "", true, "broken"); err != nil {
			t.Fatal(err)
		}
		p, err = a.Project(ctx, "acme-lib")
		if f, _ := p.Lookup(wheelRelease("acme-lib", "1.0", w).Filename); err != nil || !f.Yanked {
			t.Fatalf("a yank on the other instance: %v, %+v", err, f)
		}
	})
}
