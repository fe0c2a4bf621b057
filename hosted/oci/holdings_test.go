package oci_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
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

// BenchmarkHoldings: one recount of 50 repositories of one image each
// (a manifest, a config and two layers all share) on disk, what a
// tenant's usage costs when its names changed.
func BenchmarkHoldings(b *testing.B) {
	c, store := cachetest.OpenStore(b, b.TempDir())
	r, err := oci.Open(b.Context(), store, c, "", oci.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := b.Context()
	push := func(repo string, blob []byte) digest.Digest {
		u, err := r.StartUpload(repo, "ci")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Release(u)
		if _, err := u.Write(bytes.NewReader(blob), 0, int64(len(blob))); err != nil {
			b.Fatal(err)
		}
		if err := r.Commit(ctx, u, digest.FromBytes(blob)); err != nil {
			b.Fatal(err)
		}
		return digest.FromBytes(blob)
	}
	const repos = 50
	for i := range repos {
		repo := fmt.Sprintf("team/app%d", i)
		cfg := configOf(repo)
		ls := []sized{{push(repo, []byte("base layer")), 10}, {push(repo, []byte("app layer")), 9}}
		m := imageManifest(push(repo, cfg), len(cfg), ls, "")
		if _, err := r.PutManifest(ctx, repo, "", []string{"v1"}, m, ociManifest); err != nil {
			b.Fatal(err)
		}
	}
	objects := 0
	for b.Loop() {
		objects = 0
		err := r.Holdings(ctx, func(string) bool { return true }, func(string, string, int64) error {
			objects++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if objects != repos*4 {
		b.Fatalf("%d objects, want %d", objects, repos*4)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(objects), "ns/object")
}
