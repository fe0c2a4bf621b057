package npm

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/hostedtest"
)

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
	hostedtest.Expect(t, tr, nil, want())

	hostedtest.ExpectOnly(t, tr, "@b/lib", want())

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
	hostedtest.Expect(t, tr, nil, w)
}
