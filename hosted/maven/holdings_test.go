package maven

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// holdings returns what Holdings reports of the names keep accepts, as
// name -> key -> size; a key reported twice for one name fails.
func holdings(t *testing.T, r *Registry, keep func(string) bool) map[string]map[string]int64 {
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
	all := func(string) bool { return true }
	if got := holdings(t, r, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("holdings %v, want %v", got, want)
	}

	var asked []string
	got := holdings(t, r, func(name string) bool { asked = append(asked, name); return name == "com.acme:other" })
	if !maps.EqualFunc(got, map[string]map[string]int64{"com.acme:other": want["com.acme:other"]}, maps.Equal) {
		t.Fatalf("holdings of com.acme:other %v", got)
	}
	if !slices.Equal(asked, []string{"com.acme:lib", "com.acme:other"}) {
		t.Fatalf("keep asked about %v", asked)
	}

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
	if got := holdings(t, r, all); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("after retention %v, want %v", got, want)
	}
}
