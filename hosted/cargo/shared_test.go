package cargo

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/internal/fault"
)

// instance opens a registry on store with a cache of its own, as one
// nora instance of several does.
func instance(t *testing.T, store cache.Store) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	c, err := cache.New(store, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r, err := Open(t.Context(), store, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{r, c, store, dir}
}

// TestSharedStore: a crate published through one instance is hosted on
// the other at once (its look-alike spellings too), and versions
// published at the same moment through both all land.
func TestSharedStore(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		a, b := instance(t, sa), instance(t, sb)
		if b.Hosted("acme_lib") {
			t.Fatal("hosted before any publish")
		}
		if _, err := a.publish(frame(metaOf("acme-lib", "1.0.0", "", ""), crateOf(t, "acme-lib", "1.0.0"))); err != nil {
			t.Fatal(err)
		}
		if !b.Hosted("acme_lib") {
			t.Fatal("a look-alike of a crate published on one instance is not hosted on the other")
		}
		if _, err := b.publish(frame(metaOf("Acme_Lib", "2.0.0", "", ""), crateOf(t, "Acme_Lib", "2.0.0"))); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("a look-alike published on the other instance: %v", err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			r, vers := a, fmt.Sprintf("1.1.%d", i)
			if i%2 == 1 {
				r = b
			}
			body := frame(metaOf("acme-lib", vers, "", ""), crateOf(t, "acme-lib", vers))
			wg.Go(func() {
				if _, err := r.publish(body); err != nil {
					t.Errorf("publish %s: %v", vers, err)
				}
			})
		}
		wg.Wait()
		for _, r := range []*testRegistry{a, b} {
			idx, err := r.Index(t.Context(), "acme-lib")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(idx), "\n"); n != 9 {
				t.Fatalf("%d index lines, want 9:\n%s", n, idx)
			}
		}
		if err := b.SetYanked(t.Context(), "acme-lib", "1.0.0", true); err != nil {
			t.Fatal(err)
		}
		if idx, _ := a.Index(t.Context(), "acme-lib"); !strings.Contains(string(idx), `"vers":"1.0.0"`) || strings.Count(string(idx), `"yanked":true`) != 1 {
			t.Fatalf("a yank on the other instance:\n%s", idx)
		}
	})
}
