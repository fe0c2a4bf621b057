package maven

import (
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted/hostedtest"
)

func TestHoldings(t *testing.T) {
	c := newCache(t)
	r := openRegistry(t, c)
	ctx := context.Background()
	const shared, pom, build = "bytes deployed under two coordinates", "<project/>", "a snapshot build"
	upload(t, r, "com/acme/lib/1.0/lib-1.0.jar", shared)
	upload(t, r, "com/acme/lib/1.0/lib-1.0-sources.jar", shared) // one key, once
	upload(t, r, "com/acme/lib/1.0/lib-1.0.pom", pom)
	upload(t, r, "com/acme/lib/1.1-SNAPSHOT/lib-1.1-20240102.030405-1.jar", build)
	upload(t, r, "com/acme/other/2.0/other-2.0.jar", shared)
	// A file whose checksum contradicts it is failed: not held.
	upload(t, r, "com/acme/other/2.0/other-2.0.pom", "corrupted")
	if err := r.Confirm(ctx, coord("com/acme/other/2.0/other-2.0.pom"), "sha1", strings.Repeat("0", 40)); !isMismatch(err) {
		t.Fatalf("wrong sha1: %v", err)
	}

	blob := func(s string) string { return cache.BlobKey(digest.FromString(s)) }
	withDocs := func(w map[string]map[string]int64) map[string]map[string]int64 {
		for name, m := range w {
			dir := strings.ReplaceAll(strings.Replace(name, ":", "/", 1), ".", "/")
			b, err := cache.ReadAll(ctx, c.store, docKey(dir), maxDocBytes)
			if err != nil {
				t.Fatal(err)
			}
			m[docKey(dir)] = int64(len(b))
		}
		return w
	}
	n := func(s string) int64 { return int64(len(s)) }
	want := withDocs(map[string]map[string]int64{
		"com.acme:lib":   {blob(shared): n(shared), blob(pom): n(pom), blob(build): n(build)},
		"com.acme:other": {blob(shared): n(shared)},
	})
	hostedtest.Expect(t, r, nil, want)

	hostedtest.ExpectOnly(t, r, "com.acme:other", want)

	// A snapshot build retention removes is no longer held.
	items, err := r.Items(ctx)
	if err != nil || len(items) != 1 {
		t.Fatalf("Items = %+v, %v", items, err)
	}
	if err := r.RemoveItem(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	want = withDocs(map[string]map[string]int64{
		"com.acme:lib":   {blob(shared): n(shared), blob(pom): n(pom)},
		"com.acme:other": {blob(shared): n(shared)},
	})
	hostedtest.Expect(t, r, nil, want)
}
