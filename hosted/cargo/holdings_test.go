package cargo

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/hostedtest"
)

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
	hostedtest.Expect(t, r, nil, want)

	hostedtest.ExpectOnly(t, r, "other", want)

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
	hostedtest.Expect(t, r, nil, want)
}
