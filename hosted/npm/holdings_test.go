package npm

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// holdings returns what Holdings reports of the names keep accepts, as
// name -> key -> size; a key reported twice for one name fails.
func (tr *testRegistry) holdings(t *testing.T, keep func(string) bool) map[string]map[string]int64 {
	t.Helper()
	got := map[string]map[string]int64{}
	err := tr.Holdings(context.Background(), keep, func(name, key string, size int64) error {
		if got[name] == nil {
			got[name] = map[string]int64{}
		}
		if _, dup := got[name][key]; dup {
			t.Errorf("%s reports %s twice", name, key)
		}
		got[name][key] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// stateSize is the stored length of name's state object.
func (tr *testRegistry) stateSize(t *testing.T, name string) (string, int64) {
	t.Helper()
	key, err := stateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cache.ReadAll(context.Background(), tr.store, key, maxState)
	if err != nil {
		t.Fatal(err)
	}
	return key, int64(len(b))
}

func TestHoldings(t *testing.T) {
	tr := newTestRegistry(t, "")
	ctx := context.Background()
	shared := []byte("one tarball published under two names")
	own := []byte("a tarball only @b/lib has")
	for _, p := range []struct {
		name, ver string
		tgz       []byte
	}{{"@a/lib", "1.0.0", shared}, {"@b/lib", "1.0.0", shared}, {"@b/lib", "2.0.0", own}} {
		if _, err := tr.Publish(ctx, p.name, tr.read(t, publishBody(p.name, p.ver, p.tgz)), "ci"); err != nil {
			t.Fatal(err)
		}
	}
	key := func(b []byte) string { return cache.BlobKey(digest.FromBytes(b)) }
	want := func() map[string]map[string]int64 {
		w := map[string]map[string]int64{
			"@a/lib": {key(shared): int64(len(shared))},
			"@b/lib": {key(shared): int64(len(shared)), key(own): int64(len(own))},
		}
		for name, m := range w {
			k, n := tr.stateSize(t, name)
			m[k] = n
		}
		return w
	}
	all := func(string) bool { return true }
	if got, w := tr.holdings(t, all), want(); !maps.EqualFunc(got, w, maps.Equal) {
		t.Fatalf("holdings %v, want %v", got, w)
	}

	var asked []string
	got := tr.holdings(t, func(name string) bool { asked = append(asked, name); return name == "@b/lib" })
	if w := want(); !maps.EqualFunc(got, map[string]map[string]int64{"@b/lib": w["@b/lib"]}, maps.Equal) {
		t.Fatalf("holdings of @b/lib %v, want %v", got, w["@b/lib"])
	}
	if !slices.Equal(asked, []string{"@a/lib", "@b/lib"}) {
		t.Fatalf("keep asked about %v", asked)
	}

	// Unpublished, the package keeps only its state.
	p, err := tr.Get(ctx, "@b/lib")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Unpublish(ctx, "@b/lib", p.RevString()); err != nil {
		t.Fatal(err)
	}
	w := want()
	delete(w["@b/lib"], key(shared))
	delete(w["@b/lib"], key(own))
	if got := tr.holdings(t, all); !maps.EqualFunc(got, w, maps.Equal) {
		t.Fatalf("after unpublish %v, want %v", got, w)
	}
}
