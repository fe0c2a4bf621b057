package cargo

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
func (r *testRegistry) holdings(t *testing.T, keep func(string) bool) map[string]map[string]int64 {
	t.Helper()
	got := map[string]map[string]int64{}
	err := r.Holdings(context.Background(), keep, func(name, key string, size int64) error {
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

func TestHoldings(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	crates := map[string][]byte{}
	for _, nv := range [][2]string{{"Acme_Lib", "1.0.0"}, {"Acme_Lib", "1.1.0"}, {"other", "0.1.0"}} {
		c := crateOf(t, nv[0], nv[1])
		if _, err := r.publish(frame(metaOf(nv[0], nv[1], "", ""), c)); err != nil {
			t.Fatal(err)
		}
		crates[nv[0]+" "+nv[1]] = c
	}
	// A .crate is keyed as the same bytes cached from an upstream are.
	crate := func(nv string) (string, int64) {
		return cache.BlobKey(digest.FromBytes(crates[nv])), int64(len(crates[nv]))
	}
	want := map[string]map[string]int64{"Acme_Lib": {}, "other": {}}
	for _, nv := range []string{"Acme_Lib 1.0.0", "Acme_Lib 1.1.0", "other 0.1.0"} {
		k, n := crate(nv)
		want[nv[:len(nv)-6]][k] = n
	}
	for name, m := range want {
		b, err := r.Index(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		m[indexKey(name)] = int64(len(b))
	}
	all := func(string) bool { return true }
	if got := r.holdings(t, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("holdings %v, want %v", got, want)
	}

	var asked []string
	got := r.holdings(t, func(name string) bool { asked = append(asked, name); return name == "other" })
	if !maps.EqualFunc(got, map[string]map[string]int64{"other": want["other"]}, maps.Equal) {
		t.Fatalf("holdings of other %v", got)
	}
	if !slices.Equal(asked, []string{"Acme_Lib", "other"}) {
		t.Fatalf("keep asked about %v", asked)
	}

	// A yanked version stays downloadable: still held, under the index
	// file's new length.
	if err := r.SetYanked(ctx, "acme_lib", "1.0.0", true); err != nil {
		t.Fatal(err)
	}
	b, err := r.Index(ctx, "Acme_Lib")
	if err != nil {
		t.Fatal(err)
	}
	want["Acme_Lib"][indexKey("Acme_Lib")] = int64(len(b))
	if got := r.holdings(t, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("after a yank %v, want %v", got, want)
	}
}
