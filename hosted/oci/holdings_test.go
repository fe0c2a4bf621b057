package oci_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/oci"
)

// holdings returns what Holdings reports of the names keep accepts, as
// name -> key -> size; a key reported twice for one name fails.
func holdings(t *testing.T, r *oci.Registry, keep func(string) bool) map[string]map[string]int64 {
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

func all(string) bool { return true }

// configOf is the config blob of a test image in repo.
func configOf(repo string) []byte { return []byte(`{"repo":"` + repo + `"}`) }

func TestHoldings(t *testing.T) { onBackends(t, testHoldings) }

func testHoldings(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{})
	clock := newClock(r)
	ctx := context.Background()
	shared := []byte("a layer both repositories push")
	own := []byte("a layer only b has")
	image := func(repo string, layers ...[]byte) (digest.Digest, int64) {
		cb := configOf(repo)
		config := pushBlob(t, r, repo, cb)
		var ls []sized
		for _, l := range layers {
			ls = append(ls, sized{pushBlob(t, r, repo, l), len(l)})
		}
		m := imageManifest(config, len(cb), ls, "")
		if _, err := r.PutManifest(ctx, repo, "", []string{"v1"}, m, ociManifest); err != nil {
			t.Fatal(err)
		}
		return digest.FromBytes(m), int64(len(m))
	}
	ma, sa := image("team/a", shared)
	mb, sb := image("team/b", shared, own)
	key := func(b []byte) string { return cache.BlobKey(digest.FromBytes(b)) }
	want := map[string]map[string]int64{
		"team/a": {cache.BlobKey(ma): sa, key(shared): int64(len(shared))},
		"team/b": {cache.BlobKey(mb): sb, key(shared): int64(len(shared)), key(own): int64(len(own))},
	}
	for repo, m := range want {
		m[key(configOf(repo))] = int64(len(configOf(repo)))
	}
	if got := holdings(t, r, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("holdings %v, want %v", got, want)
	}

	// Only what keep accepts is read.
	var asked []string
	got := holdings(t, r, func(name string) bool { asked = append(asked, name); return name == "team/a" })
	if !maps.EqualFunc(got, map[string]map[string]int64{"team/a": want["team/a"]}, maps.Equal) {
		t.Fatalf("holdings of team/a %v", got)
	}
	if !slices.Equal(asked, []string{"team/a", "team/b"}) {
		t.Fatalf("keep asked about %v", asked)
	}

	// A deleted manifest goes at once; its links go with GC.
	if err := r.DeleteManifest("team/b", mb); err != nil {
		t.Fatal(err)
	}
	delete(want["team/b"], cache.BlobKey(mb))
	if got := holdings(t, r, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("after the delete %v, want %v", got, want)
	}
	mark(t, r, cache.MarkOptions{Cutoff: clock.cutoff(), DeleteUntagged: true})
	delete(want, "team/b")
	if got := holdings(t, r, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("after GC %v, want %v", got, want)
	}
}
