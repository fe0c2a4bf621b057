package retention_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache/cachetest"
	"nora/cache/disk"
	"nora/hosted/maven"
	"nora/hosted/oci"
	"nora/hosted/retention"
	"nora/internal/fault"
	"nora/internal/units"
)

func TestCheck(t *testing.T) {
	f := func(r retention.Rule, wantErr string) {
		t.Helper()
		err := r.Check()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("Check(%+v) = %v, want %q", r, err, wantErr)
		}
		if _, err := retention.Compile([]retention.Rule{{Match: "**", KeepLast: 1}, r}); (err == nil) != (wantErr == "") ||
			err != nil && !strings.Contains(err.Error(), "#2") {
			t.Fatalf("Compile with %+v: %v", r, err)
		}
	}
	day := units.Duration(24 * time.Hour)
	f(retention.Rule{Match: "**/dev-*", KeepLast: 5}, "")
	f(retention.Rule{Match: "**/dev-*", OlderThan: day}, "")
	f(retention.Rule{Match: "**", KeepLast: 5, OlderThan: day}, "")
	f(retention.Rule{Match: "**/dev-*"}, "set keep_last, older_than or both")
	f(retention.Rule{Match: "**/dev-[", KeepLast: 1}, "not a valid glob")
	f(retention.Rule{Match: "**", KeepLast: -1}, "keep_last is negative")
	f(retention.Rule{Match: "**", OlderThan: -day}, "older_than is negative")
	f(retention.Rule{KeepLast: 1}, "match is empty")
}

func openOCI(t *testing.T) *oci.Registry {
	t.Helper()
	dir := t.TempDir()
	c, store := cachetest.OpenStore(t, dir)
	r, err := oci.Open(t.Context(), store, c, "", oci.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pushImage pushes a one-layer image to repo: manifest number n, tagged
// with tags (none: by digest only).
func pushImage(t *testing.T, r *oci.Registry, repo string, n int, tags ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	var ds []digest.Digest
	var sizes []int
	for _, b := range []string{`{}`, fmt.Sprintf("layer %d", n)} {
		sizes = append(sizes, len(b))
		u, err := r.StartUpload(repo, "ci")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(strings.NewReader(b), -1, -1); err != nil {
			t.Fatal(err)
		}
		d := digest.FromString(b)
		if err := r.Commit(ctx, u, d); err != nil {
			t.Fatal(err)
		}
		r.Release(u)
		ds = append(ds, d)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, ds[0], sizes[0], ds[1], sizes[1])
	got, err := r.PutManifest(ctx, repo, "", tags, []byte(m), "")
	if err != nil {
		t.Fatal(err)
	}
	return got.Digest
}

func tags(t *testing.T, r *oci.Registry, repo string) []string {
	t.Helper()
	ts, _, err := r.Tags(repo, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func apply(t *testing.T, rules []retention.Rule, now time.Time, dry bool, src ...retention.Source) []string {
	t.Helper()
	p, err := retention.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Apply(context.Background(), now, dry, src...)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun != dry {
		t.Fatalf("report says dry run %v", rep.DryRun)
	}
	var keys []string
	for _, it := range rep.Removed {
		keys = append(keys, it.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestKeepLastCountsTagsOnly(t *testing.T) {
	r := openOCI(t)
	for i := 1; i <= 4; i++ {
		pushImage(t, r, "app", i, fmt.Sprintf("dev-%d", i))
	}
	byDigest := pushImage(t, r, "app", 5) // newest, but no tag
	pushImage(t, r, "app", 6, "v1.0")     // matches no rule
	pushImage(t, r, "lib", 7, "dev-a")    // another repository: its own count
	rules := []retention.Rule{{Match: "**/dev-*", KeepLast: 2}}
	want := []string{"oci:app:dev-1", "oci:app:dev-2"}

	if got := apply(t, rules, time.Now(), true, r); !slices.Equal(got, want) {
		t.Fatalf("dry run removes %v, want %v", got, want)
	}
	if got := tags(t, r, "app"); len(got) != 5 {
		t.Fatalf("the dry run changed the tags: %v", got)
	}
	if got := apply(t, rules, time.Now(), false, r); !slices.Equal(got, want) {
		t.Fatalf("removed %v, want %v", got, want)
	}
	if got := tags(t, r, "app"); !slices.Equal(got, []string{"dev-3", "dev-4", "v1.0"}) {
		t.Fatalf("tags left: %v", got)
	}
	if got := tags(t, r, "lib"); !slices.Equal(got, []string{"dev-a"}) {
		t.Fatalf("tags left in lib: %v", got)
	}
	if _, err := r.Manifest("app", byDigest, ""); err != nil {
		t.Fatalf("the manifest pushed by digest: %v", err)
	}
	// The manifest of a removed tag stays for GC to decide about.
	if _, err := r.Manifest("app", pushImage(t, r, "app", 1), ""); err != nil {
		t.Fatal(err)
	}
	if got := apply(t, rules, time.Now(), false, r); len(got) != 0 {
		t.Fatalf("a second run removed %v", got)
	}
}

func TestOlderThan(t *testing.T) {
	r := openOCI(t)
	for i := 1; i <= 3; i++ {
		pushImage(t, r, "app", i, fmt.Sprintf("t%d", i))
	}
	hour := units.Duration(time.Hour)
	f := func(rule retention.Rule, now time.Time, want ...string) {
		t.Helper()
		if got := apply(t, []retention.Rule{rule}, now, true, r); !slices.Equal(got, want) {
			t.Fatalf("%+v at %v removes %v, want %v", rule, now, got, want)
		}
	}
	now := time.Now()
	f(retention.Rule{Match: "**", OlderThan: hour}, now)
	f(retention.Rule{Match: "**", OlderThan: hour}, now.Add(2*time.Hour), "oci:app:t1", "oci:app:t2", "oci:app:t3")
	f(retention.Rule{Match: "**", OlderThan: hour, KeepLast: 1}, now.Add(2*time.Hour), "oci:app:t1", "oci:app:t2")
	f(retention.Rule{Match: "**", OlderThan: hour, KeepLast: 1}, now)
	f(retention.Rule{Match: "app/t[12]", OlderThan: hour}, now.Add(2*time.Hour), "oci:app:t1", "oci:app:t2")
	// "*" stays within a segment.
	f(retention.Rule{Match: "*", OlderThan: hour}, now.Add(2*time.Hour))
}

func TestFirstMatchingRuleWins(t *testing.T) {
	r := openOCI(t)
	for i, tag := range []string{"keep-1", "keep-2", "x-1", "x-2", "keep-3", "x-3"} {
		pushImage(t, r, "app", i, tag)
	}
	rules := []retention.Rule{
		{Match: "app/keep-*", KeepLast: 100},
		{Match: "**", KeepLast: 1},
	}
	if got, want := apply(t, rules, time.Now(), false, r), []string{"oci:app:x-1", "oci:app:x-2"}; !slices.Equal(got, want) {
		t.Fatalf("removed %v, want %v", got, want)
	}
	if got := tags(t, r, "app"); !slices.Equal(got, []string{"keep-1", "keep-2", "keep-3", "x-3"}) {
		t.Fatalf("tags left: %v", got)
	}
}

// A tag put again after it was listed is not removed: it is new.
func TestMovedTagIsGone(t *testing.T) {
	r := openOCI(t)
	pushImage(t, r, "app", 1, "dev")
	items, err := r.Items(context.Background())
	if err != nil || len(items) != 1 {
		t.Fatalf("Items = %+v, %v", items, err)
	}
	pushImage(t, r, "app", 2, "dev")
	if err := r.RemoveItem(context.Background(), items[0]); !errors.Is(err, retention.ErrGone) {
		t.Fatalf("removing a moved tag: %v", err)
	}
	if got := tags(t, r, "app"); !slices.Equal(got, []string{"dev"}) {
		t.Fatalf("tags: %v", got)
	}
}

func TestMavenSnapshotBuilds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := cachetest.Open(t, dir)
	store, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := maven.Open(ctx, store, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(version, file string) {
		t.Helper()
		co := maven.Coord{Group: "com/acme", Artifact: "lib", Version: version, File: file}
		body := co.Path()
		if _, err := r.Upload(ctx, co, strings.NewReader(body), int64(len(body)), 1<<20, "ci"); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"20240101.000000-1", "20240102.000000-2", "20240103.000000-3"} {
		deploy("1.0-SNAPSHOT", "lib-1.0-"+b+".jar")
		deploy("1.0-SNAPSHOT", "lib-1.0-"+b+".pom")
	}
	deploy("1.0-SNAPSHOT", "lib-1.0-20240101.000000-1-javadoc.jar") // only the oldest build has docs
	deploy("2.0-SNAPSHOT", "lib-2.0-20240101.000000-1.jar")
	deploy("1.0", "lib-1.0.jar") // a release is never an item
	const v1 = "maven:com/acme/lib/1.0-SNAPSHOT:"

	f := func(rule retention.Rule, now time.Time, want ...string) {
		t.Helper()
		if got := apply(t, []retention.Rule{rule}, now, true, r); !slices.Equal(got, want) {
			t.Fatalf("%+v at %v removes %v, want %v", rule, now, got, want)
		}
	}
	// Created is the build's timestamp: at 2024-01-03 12:00, 36h ago is
	// 2024-01-02 00:00, and only the build before that is older.
	jan3 := time.Date(2024, 1, 3, 12, 0, 0, 0, time.UTC)
	f(retention.Rule{Match: "**", OlderThan: units.Duration(36 * time.Hour)}, jan3,
		v1+"20240101.000000-1", "maven:com/acme/lib/2.0-SNAPSHOT:20240101.000000-1")
	f(retention.Rule{Match: "com/acme/lib/1.0-SNAPSHOT/*", KeepLast: 2}, jan3, v1+"20240101.000000-1")

	keep1 := []retention.Rule{{Match: "com/acme/lib/*-SNAPSHOT/*", KeepLast: 1}}
	if got, want := apply(t, keep1, jan3, false, r), []string{v1 + "20240101.000000-1", v1 + "20240102.000000-2"}; !slices.Equal(got, want) {
		t.Fatalf("removed %v, want %v", got, want)
	}
	for _, file := range []string{"lib-1.0-20240101.000000-1.jar", "lib-1.0-20240102.000000-2.pom", "lib-1.0-20240101.000000-1-javadoc.jar"} {
		if _, _, err := r.File(ctx, maven.Coord{Group: "com/acme", Artifact: "lib", Version: "1.0-SNAPSHOT", File: file}); !errors.Is(err, fault.NotFound) {
			t.Fatalf("%s of a removed build: %v", file, err)
		}
	}
	// The version's metadata is what the builds left make it: the newest
	// build, and no javadoc (only a removed build had one).
	md, err := r.Metadata(ctx, "com/acme/lib/1.0-SNAPSHOT")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"<timestamp>20240103.000000</timestamp>", "<buildNumber>3</buildNumber>", "<value>1.0-20240103.000000-3</value>"} {
		if !strings.Contains(string(md), s) {
			t.Fatalf("metadata lacks %s:\n%s", s, md)
		}
	}
	for _, s := range []string{"javadoc", "20240101", "20240102"} {
		if strings.Contains(string(md), s) {
			t.Fatalf("metadata still names %s:\n%s", s, md)
		}
	}
	if f, name, err := r.File(ctx, maven.Coord{Group: "com/acme", Artifact: "lib", Version: "1.0-SNAPSHOT", File: "lib-1.0-SNAPSHOT.jar"}); err != nil || name != "lib-1.0-20240103.000000-3.jar" {
		t.Fatalf("non-unique name resolves to %s %+v %v", name, f, err)
	}
	// GC no longer keeps the removed files.
	refs := map[digest.Digest]bool{}
	r.Referenced(func(d digest.Digest) error { refs[d] = true; return nil })
	if refs[digest.FromString("com/acme/lib/1.0-SNAPSHOT/lib-1.0-20240101.000000-1.jar")] || len(refs) != 4 {
		t.Fatalf("%d files referenced after retention, want 4 (two of the last build, 2.0-SNAPSHOT's, the release)", len(refs))
	}
	if got := apply(t, keep1, jan3, false, r); len(got) != 0 {
		t.Fatalf("a second run removed %v", got)
	}
}
