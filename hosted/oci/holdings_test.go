package oci_test

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/hostedtest"
	"nora/hosted/oci"
)

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
	hostedtest.Expect(t, r, nil, want)

	// Only what keep accepts is read.
	hostedtest.ExpectOnly(t, r, "team/a", want)

	// A deleted manifest goes at once; its links go with the next GC,
	// delete_untagged or not, once older than its cutoff.
	if err := r.DeleteManifest("team/b", mb); err != nil {
		t.Fatal(err)
	}
	delete(want["team/b"], cache.BlobKey(mb))
	hostedtest.Expect(t, r, nil, want)
	mark(t, r, cache.MarkOptions{Cutoff: clock.cutoff()})
	delete(want, "team/b")
	hostedtest.Expect(t, r, nil, want)
}
