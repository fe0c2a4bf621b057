package npm

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/cachetest"
)

// instance opens a registry on store with a cache of its own (local
// index and temp files), as one nora instance of several does.
func instance(t *testing.T, store cache.Store) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	c, err := cache.New(store, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tr := &testRegistry{c: c, store: store, dir: dir, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr.reopen(t, "")
	return tr
}

// TestSharedStore: what one instance publishes the other serves at once,
// tarball included, and versions published at the same moment through
// both all land.
func TestSharedStore(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		ctx := t.Context()
		a, b := instance(t, sa), instance(t, sb)
		if b.Hosted("@acme/lib") {
			t.Fatal("hosted before any publish")
		}
		a.publish(t, "@acme/lib", "1.0.0")
		if !b.Hosted("@acme/lib") {
			t.Fatal("a package published on one instance is not hosted on the other")
		}
		_, obj, err := b.Tarball(ctx, "@acme/lib", "lib-1.0.0.tgz")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil || string(got) != string(tarball("@acme/lib", "1.0.0")) {
			t.Fatalf("tarball from the other instance: %q, %v", got, err)
		}

		want := []string{"1.0.0"}
		var wg sync.WaitGroup
		for i := range 8 {
			tr, ver := a, fmt.Sprintf("1.1.%d", i)
			if i%2 == 1 {
				tr = b
			}
			want = append(want, ver)
			doc := tr.read(t, publishBody("@acme/lib", ver, tarball("@acme/lib", ver)))
			wg.Go(func() {
				if _, err := tr.Publish(ctx, "@acme/lib", doc, "ci"); err != nil {
					t.Errorf("publish %s: %v", ver, err)
				}
			})
		}
		wg.Wait()
		slices.Sort(want)
		for _, tr := range []*testRegistry{a, b} {
			p, err := tr.Get(ctx, "@acme/lib")
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(p.Versions)); !slices.Equal(got, want) {
				t.Fatalf("versions %q, want %q", got, want)
			}
		}

		if _, err := b.SetTag(ctx, "@acme/lib", "next", "1.1.3"); err != nil {
			t.Fatal(err)
		}
		p, err := a.Get(ctx, "@acme/lib")
		if err != nil || p.DistTags["next"] != "1.1.3" {
			t.Fatalf("a tag set on the other instance: %v, %v", p.DistTags, err)
		}
	})
}
