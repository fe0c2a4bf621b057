package pypi

import (
	"context"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/hostedtest"
)

func TestHoldings(t *testing.T) {
	c := newCache(t, t.TempDir())
	r := openRegistry(t, c)
	ctx := context.Background()
	whl := testWheel(t, "Acme_Lib", "1.0", "")
	wf, _, err := publish(r, wheelRelease("Acme_Lib", "1.0", whl), whl)
	if err != nil {
		t.Fatal(err)
	}
	sd := []byte("one sdist uploaded to two projects")
	for _, p := range []string{"acme_lib", "acme_other"} {
		if _, _, err := publish(r, Release{Name: p, Version: "1.0", Filename: p + "-1.0.tar.gz", SHA256: sum256(sd)}, sd); err != nil {
			t.Fatal(err)
		}
	}
	md, err := cache.ReadAll(ctx, c.store, cache.BlobKey(wf.MetadataDigest()), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	blob := func(b []byte) string { return cache.BlobKey(digest.FromBytes(b)) }
	want := func() map[string]map[string]int64 {
		w := map[string]map[string]int64{
			"acme-lib":   {blob(whl): int64(len(whl)), blob(md): int64(len(md)), blob(sd): int64(len(sd))},
			"acme-other": {blob(sd): int64(len(sd))},
		}
		for project, m := range w {
			doc, err := cache.ReadAll(ctx, c.store, projectKey(project), maxDocBytes)
			if err != nil {
				t.Fatal(err)
			}
			m[projectKey(project)] = int64(len(doc))
		}
		return w
	}
	hostedtest.Expect(t, r, nil, want())

	hostedtest.ExpectOnly(t, r, "acme-other", want())

	// A yanked file stays downloadable: it is still held. A document of
	// an older nora, without the metadata's size, gives the same sizes.
	if _, err := r.Yank(ctx, "acme-lib", "1.0", "", true, "broken"); err != nil {
		t.Fatal(err)
	}
	_, err = r.change(ctx, "acme-lib", func(p *Project) (*Project, error) {
		next := &Project{Name: p.Name, Files: slices.Clone(p.Files)}
		for i := range next.Files {
			next.Files[i].MetadataSize = 0
		}
		return next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hostedtest.Expect(t, r, nil, want())
}
