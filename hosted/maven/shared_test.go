package maven

import (
	"fmt"
	"log/slog"
	"strings"
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
	return openRegistry(t, testCache{c, store})
}

// TestSharedStore: what one instance deploys the other serves at once,
// in the files and in maven-metadata.xml, and versions deployed at the
// same moment through both all land.
func TestSharedStore(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		a, b := instance(t, sa), instance(t, sb)
		upload(t, a, "com/acme/lib/1.0/lib-1.0.jar", "jar 1.0")
		if got, err := read(t, b, "com/acme/lib/1.0/lib-1.0.jar"); err != nil || got != "jar 1.0" {
			t.Fatalf("the other instance reads %q, %v", got, err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			r, ver := a, fmt.Sprintf("1.1.%d", i)
			if i%2 == 1 {
				r = b
			}
			wg.Go(func() {
				c := coord("com/acme/lib/" + ver + "/lib-" + ver + ".jar")
				body := "jar " + ver
				if _, err := r.Upload(t.Context(), c, strings.NewReader(body), int64(len(body)), 1<<20, "ci"); err != nil {
					t.Errorf("deploy %s: %v", ver, err)
				}
			})
		}
		wg.Wait()
		for _, r := range []*Registry{a, b} {
			md, err := r.Metadata(t.Context(), "com/acme/lib")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				if v := fmt.Sprintf("<version>1.1.%d</version>", i); !strings.Contains(string(md), v) {
					t.Fatalf("maven-metadata.xml lacks %s:\n%s", v, md)
				}
			}
		}
	})
}
