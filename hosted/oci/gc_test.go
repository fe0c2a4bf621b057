package oci_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/hosted/oci"
)

// mark runs Mark and returns the keys it reported and what it kept.
func mark(t *testing.T, r *oci.Registry, o cache.MarkOptions) ([]string, map[digest.Digest]bool) {
	t.Helper()
	kept := map[digest.Digest]bool{}
	items, err := r.Mark(context.Background(), o, func(d digest.Digest) { kept[d] = true })
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		if it.Size != 0 || (it.What != "manifest" && it.What != "link") {
			t.Fatalf("odd item %+v", it)
		}
		keys = append(keys, it.What+" "+it.Key)
	}
	slices.Sort(keys)
	return keys, kept
}

// clock is the time of a registry's links and manifest puts: it moves
// only when the test says.
type clock struct{ t time.Time }

func newClock(r *oci.Registry) *clock {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	oci.SetClock(r, func() time.Time { return c.t })
	return c
}

// cutoff returns a time after everything done so far and before anything
// done next.
func (c *clock) cutoff() time.Time {
	c.t = c.t.Add(time.Second)
	cut := c.t
	c.t = c.t.Add(time.Second)
	return cut
}

func manifestKey(repo string, d digest.Digest) string {
	return "manifest oci:" + repo + "@" + string(d)
}
func linkKey(repo string, d digest.Digest) string { return "link oci:" + repo + "@" + string(d) }

func TestMarkTagsAndLinks(t *testing.T) { onBackends(t, testMarkTagsAndLinks) }

func testMarkTagsAndLinks(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{})
	clock := newClock(r)
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte(`{"v":1}`))
	shared := pushBlob(t, r, "app", []byte("shared layer"))
	own := pushBlob(t, r, "app", []byte("layer only v2 has"))
	orphan := pushBlob(t, r, "app", []byte("uploaded, never referenced"))
	m1 := imageManifest(config, 7, []sized{{shared, 12}}, "")
	m2 := imageManifest(config, 7, []sized{{shared, 12}, {own, 17}}, "")
	for tag, m := range map[string][]byte{"v1": m1, "v2": m2} {
		if _, err := r.PutManifest(ctx, "app", "", []string{tag}, m, ociManifest); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.DeleteTag("app", "v2"); err != nil {
		t.Fatal(err)
	}
	cut := clock.cutoff()
	recent := pushBlob(t, r, "app", []byte("uploaded, manifest still to come"))
	d1, d2 := digest.FromBytes(m1), digest.FromBytes(m2)

	// Without delete_untagged the untagged manifest and its links stay;
	// only the old unreferenced link goes.
	keys, kept := mark(t, r, cache.MarkOptions{Cutoff: cut, DryRun: true})
	if want := []string{linkKey("app", orphan)}; !slices.Equal(keys, want) {
		t.Fatalf("dropped %v, want %v", keys, want)
	}
	for _, d := range []digest.Digest{d1, d2, config, shared, own, recent} {
		if !kept[d] {
			t.Errorf("without delete_untagged %s is not kept", d)
		}
	}

	// Dry, with delete_untagged: reports, keeps what a real run keeps,
	// changes nothing.
	want := []string{linkKey("app", orphan), linkKey("app", own), manifestKey("app", d2)}
	slices.Sort(want)
	o := cache.MarkOptions{Cutoff: cut, DeleteUntagged: true, DryRun: true}
	dryKeys, dryKept := mark(t, r, o)
	if !slices.Equal(dryKeys, want) {
		t.Fatalf("dry run dropped %v, want %v", dryKeys, want)
	}
	if _, err := r.Manifest("app", d2, ""); err != nil {
		t.Fatalf("dry run removed the manifest: %v", err)
	}
	for _, d := range []digest.Digest{own, orphan} {
		if _, err := r.StatBlob(context.Background(), "app", d); err != nil {
			t.Fatalf("dry run removed link %s: %v", d, err)
		}
	}

	o.DryRun = false
	keys, kept = mark(t, r, o)
	if !slices.Equal(keys, want) {
		t.Fatalf("dropped %v, want %v", keys, want)
	}
	if !maps.Equal(kept, dryKept) {
		t.Fatalf("a real run kept %v, the dry run %v", slices.Sorted(maps.Keys(kept)), slices.Sorted(maps.Keys(dryKept)))
	}
	f := func(d digest.Digest, wantKept bool) {
		t.Helper()
		if kept[d] != wantKept {
			t.Errorf("kept[%s] = %v, want %v", d, kept[d], wantKept)
		}
	}
	f(d1, true)
	f(config, true)
	f(shared, true) // the untagged manifest's layer that the tagged one shares
	f(recent, true)
	f(d2, false)
	f(own, false)
	f(orphan, false)
	if _, err := r.Manifest("app", d2, ""); !errors.Is(err, oci.ErrManifestUnknown) {
		t.Fatalf("untagged manifest after GC: %v", err)
	}
	for d, wantErr := range map[digest.Digest]error{own: oci.ErrBlobUnknown, orphan: oci.ErrBlobUnknown, shared: nil, recent: nil} {
		if _, err := r.StatBlob(context.Background(), "app", d); !errors.Is(err, wantErr) {
			t.Errorf("link %s after GC: %v, want %v", d, err, wantErr)
		}
	}
	if m, err := r.Manifest("app", "", "v1"); err != nil || m.Digest != d1 {
		t.Fatalf("tagged manifest after GC: %+v %v", m, err)
	}
	// A second run finds nothing more.
	if keys, _ := mark(t, r, o); len(keys) != 0 {
		t.Fatalf("second run dropped %v", keys)
	}
}

func TestMarkIndexesAndReferrers(t *testing.T) { onBackends(t, testMarkIndexesAndReferrers) }

func testMarkIndexesAndReferrers(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{})
	clock := newClock(r)
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte(`{}`))
	layer := pushBlob(t, r, "app", []byte("layer"))
	put := func(body []byte, tags ...string) digest.Digest {
		t.Helper()
		m, err := r.PutManifest(ctx, "app", "", tags, body, "")
		if err != nil {
			t.Fatal(err)
		}
		return m.Digest
	}
	subject := func(d digest.Digest, note string) string {
		return fmt.Sprintf(`,"subject":{"mediaType":"%s","digest":"%s","size":1},"annotations":{"n":"%s"}`, ociManifest, d, note)
	}
	imgBody := imageManifest(config, 2, []sized{{layer, 5}}, "")
	img := put(imgBody)
	idx := put([]byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"`+
		ociManifest+`","digest":"%s","size":%d}]}`, img, len(imgBody))), "multi")
	sig := put(imageManifest(config, 2, nil, subject(img, "signature of a child")))
	sigOfSig := put(imageManifest(config, 2, nil, subject(sig, "referrer of a referrer")))
	lonely := put(imageManifest(config, 2, nil, `,"annotations":{"n":"untagged"}`))
	lonelySig := put(imageManifest(config, 2, nil, subject(lonely, "signature of the untagged one")))
	cut := clock.cutoff()
	inProgress := put(imageManifest(config, 2, nil, `,"annotations":{"n":"tag comes next"}`))

	want := []string{manifestKey("app", lonely), manifestKey("app", lonelySig)}
	slices.Sort(want)
	keys, kept := mark(t, r, cache.MarkOptions{Cutoff: cut, DeleteUntagged: true})
	if !slices.Equal(keys, want) {
		t.Fatalf("dropped %v, want %v", keys, want)
	}
	for _, d := range []digest.Digest{idx, img, sig, sigOfSig, inProgress, config, layer} {
		if !kept[d] {
			t.Errorf("%s not kept", d)
		}
		if d != config && d != layer {
			if _, err := r.Manifest("app", d, ""); err != nil {
				t.Errorf("manifest %s after GC: %v", d, err)
			}
		}
	}
	if kept[lonely] || kept[lonelySig] {
		t.Error("dropped manifests were kept")
	}
	if refs, _ := r.Referrers("app", lonely, ""); len(refs) != 0 {
		t.Fatalf("the dropped referrer is still listed: %+v", refs)
	}
	if refs, _ := r.Referrers("app", img, ""); len(refs) != 1 || refs[0].Digest != sig {
		t.Fatalf("referrers of the child: %+v", refs)
	}
}

// A link whose bytes are gone from the store cannot be referenced: the
// put would create a manifest nobody can pull.
func TestManifestNeedsStoredBytes(t *testing.T) {
	dir := t.TempDir()
	c, store := cachetest.OpenStore(t, dir)
	r := openRegistry(t, store, c, oci.Config{})
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte(`{}`))
	layer := pushBlob(t, r, "app", []byte("layer"))
	if err := store.Delete(ctx, cache.BlobKey(layer)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PutManifest(ctx, "app", "", []string{"v1"}, imageManifest(config, 2, []sized{{layer, 5}}, ""), ociManifest); !errors.Is(err, oci.ErrManifestBlobUnknown) {
		t.Fatalf("manifest over a blob without bytes: %v", err)
	}
	if _, err := r.StatBlob(context.Background(), "app", layer); !errors.Is(err, oci.ErrBlobUnknown) {
		t.Fatalf("a linked blob without bytes: %v", err)
	}
	if ok, err := r.Mount(ctx, "other", layer, "app"); ok || err != nil {
		t.Fatalf("mount of a blob without bytes: %v %v", ok, err)
	}
}
