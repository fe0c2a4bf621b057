package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
	"nora/internal/fault"
)

type testRegistry struct {
	*Registry
	c     *cache.Cache
	store cache.Store
	dir   string
	now   time.Time
}

// openCache builds a test cache in dir and, as the wiring does, gives the
// hosted state a store of its own on the cache's directory.
func openCache(t *testing.T, dir string) (cache.Store, *cache.Cache) {
	t.Helper()
	c := cachetest.Open(t, dir)
	s, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func newTestRegistry(t *testing.T, policy UnpublishPolicy) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	store, c := openCache(t, dir)
	tr := &testRegistry{c: c, store: store, dir: dir, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr.reopen(t, policy)
	return tr
}

// reopen opens the registry again on the same store, as a restart does.
func (tr *testRegistry) reopen(t *testing.T, policy UnpublishPolicy) {
	t.Helper()
	r, err := Open(context.Background(), tr.store, tr.c, Options{Unpublish: policy, Now: func() time.Time { return tr.now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.Registry = r
}

func (tr *testRegistry) read(t *testing.T, body string) *Document {
	t.Helper()
	doc, err := ReadDocument(strings.NewReader(body), tr.c.TempDir(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func (tr *testRegistry) publish(t *testing.T, name, ver string) *Package {
	t.Helper()
	p, err := tr.Publish(context.Background(), name, tr.read(t, publishBody(name, ver, tarball(name, ver))), "ci")
	if err != nil {
		t.Fatalf("publish %s@%s: %v", name, ver, err)
	}
	return p
}

func tarball(name, ver string) []byte { return []byte("tarball of " + name + "@" + ver) }

func wantKind(t *testing.T, what string, err error, k fault.Kind) {
	t.Helper()
	if err == nil || fault.KindOf(err) != k {
		t.Fatalf("%s: %v (kind %v), want kind %v", what, err, fault.KindOf(err), k)
	}
}

// wantPublished checks the refusal of a version number already used.
func wantPublished(t *testing.T, what string, err error) {
	t.Helper()
	wantKind(t, what, err, fault.Conflict)
	if !errors.Is(err, ErrPublished) {
		t.Fatalf("%s: %v, want ErrPublished", what, err)
	}
}

func (tr *testRegistry) tempFiles() int {
	n := 0
	for _, d := range []string{tr.c.TempDir()} {
		entries, _ := os.ReadDir(d)
		n += len(entries)
	}
	return n
}

func TestPublish(t *testing.T) {
	tr := newTestRegistry(t, "")
	ctx := context.Background()
	if tr.Hosted("@acme/lib") {
		t.Fatal("hosted before any publish")
	}
	p := tr.publish(t, "@acme/lib", "1.0.0")
	if !tr.Hosted("@acme/lib") || p.DistTags["latest"] != "1.0.0" || p.Rev != 1 {
		t.Fatalf("after publish: hosted %v, %+v", tr.Hosted("@acme/lib"), p)
	}
	v, obj, err := tr.Tarball(ctx, "@acme/lib", "lib-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != string(tarball("@acme/lib", "1.0.0")) || v.Digest != digest.FromBytes(b) || v.Publisher != "ci" {
		t.Fatalf("tarball %q, version %+v", b, v)
	}

	// A published version is immutable, also with other bytes.
	_, err = tr.Publish(ctx, "@acme/lib", tr.read(t, publishBody("@acme/lib", "1.0.0", []byte("other"))), "ci")
	wantPublished(t, "re-publish", err)
	if fault.Message(err) != "cannot modify pre-existing version" {
		t.Fatalf("re-publish: %q", err)
	}
	if tr.tempFiles() != 0 {
		t.Fatal("a refused publish left its temp file")
	}

	// A higher version moves latest; one published with a tag does not.
	tr.publish(t, "@acme/lib", "1.1.0")
	beta := strings.Replace(publishBody("@acme/lib", "2.0.0-beta.1", tarball("@acme/lib", "2.0.0-beta.1")), `"dist-tags":{"latest":"2.0.0-beta.1"}`, `"dist-tags":{"beta":"2.0.0-beta.1"}`, 1)
	p, err = tr.Publish(ctx, "@acme/lib", tr.read(t, beta), "ci")
	if err != nil || p.DistTags["latest"] != "1.1.0" || p.DistTags["beta"] != "2.0.0-beta.1" {
		t.Fatalf("publish with a tag: %v %+v", err, p.DistTags)
	}

	// The state survives a restart.
	tr.reopen(t, "")
	if got, err := tr.Get(ctx, "@acme/lib"); err != nil || len(got.Versions) != 3 || got.Rev != 3 {
		t.Fatalf("after reopen: %v %+v", err, got)
	}
	if names := tr.Names(); len(names) != 1 || names[0] != "@acme/lib" {
		t.Fatalf("names after reopen: %q", names)
	}
}

func TestPublishChecks(t *testing.T) {
	tr := newTestRegistry(t, "")
	ctx := context.Background()
	good := publishBody("lib", "1.0.0", tarball("lib", "1.0.0"))
	f := func(what, name, body string, k fault.Kind) {
		t.Helper()
		_, err := tr.Publish(ctx, name, tr.read(t, body), "ci")
		wantKind(t, what, err, k)
		if tr.Hosted(name) || tr.tempFiles() != 0 {
			t.Fatalf("%s: a refused publish left something (hosted %v, %d temp files)", what, tr.Hosted(name), tr.tempFiles())
		}
		if _, err := tr.c.Stat(ctx, cache.BlobKey(digest.FromBytes(tarball("lib", "1.0.0")))); err == nil {
			t.Fatalf("%s: the tarball was stored", what)
		}
	}
	f("another name in the URL", "other", good, fault.Invalid)
	f("corrupted tarball", "lib", strings.Replace(good, base64Of(tarball("lib", "1.0.0")), base64Of([]byte("tarball of lib@1.0.1")), 1), fault.Invalid)
	f("wrong shasum", "lib", strings.Replace(good, `"shasum":"`, `"shasum":"00`, 1), fault.Invalid)
	f("no digest at all", "lib", strings.NewReplacer(`"integrity":"sha512-`, `"x":"`, `"shasum":"`, `"y":"`).Replace(good), fault.Invalid)
	f("wrong length", "lib", strings.Replace(good, fmt.Sprintf(`"length":%d`, len(tarball("lib", "1.0.0"))), `"length":3`, 1), fault.Invalid)
	f("invalid version", "lib", strings.ReplaceAll(good, "1.0.0", "1.0"), fault.Invalid)
	f("manifest of another version", "lib", strings.Replace(good, `"version":"1.0.0"`, `"version":"1.0.1"`, 1), fault.Invalid)
	f("invalid tag", "lib", strings.Replace(good, `{"latest":"1.0.0"}`, `{"1.x":"1.0.0"}`, 1), fault.Invalid)
	f("tag of an unknown version", "lib", strings.Replace(good, `{"latest":"1.0.0"}`, `{"latest":"1.0.0","old":"0.9.0"}`, 1), fault.Invalid)
	f("two versions", "lib", strings.Replace(good, `"versions":{`, `"versions":{"0.1.0":{},`, 1), fault.Invalid)

	// A matching shasum alone will do (older clients send no integrity).
	if _, err := tr.Publish(ctx, "lib", tr.read(t, strings.Replace(good, `"integrity":"sha512-`, `"x":"`, 1)), "ci"); err != nil {
		t.Fatalf("publish with a shasum only: %v", err)
	}
}

func base64Of(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

func TestDeprecateAndTags(t *testing.T) {
	tr := newTestRegistry(t, "")
	ctx := context.Background()
	tr.publish(t, "lib", "1.0.0")
	tr.publish(t, "lib", "1.1.0")
	update := func(body string) (*Package, error) {
		return tr.Update(ctx, "lib", tr.read(t, body), "", false)
	}
	// npm deprecate PUTs the whole packument back; only "deprecated" counts.
	p, err := update(`{"name":"lib","versions":{"1.0.0":{"deprecated":"use 1.1","description":"ignored"},"1.1.0":{}},"dist-tags":{"latest":"1.0.0"}}`)
	if err != nil || p.Versions["1.0.0"].Deprecated != "use 1.1" || p.Versions["1.1.0"].Deprecated != "" || p.DistTags["latest"] != "1.1.0" {
		t.Fatalf("deprecate: %v %+v", err, p)
	}
	rev := p.Rev
	if p, _ = update(`{"name":"lib","versions":{"1.0.0":{"deprecated":"use 1.1"}}}`); p.Rev != rev {
		t.Fatal("an update that changes nothing bumped the revision")
	}
	if p, err = update(`{"name":"lib","versions":{"1.0.0":{"deprecated":""}}}`); err != nil || p.Versions["1.0.0"].Deprecated != "" {
		t.Fatalf("undeprecate: %v", err)
	}
	// Without -rev a document that lists fewer versions removes nothing.
	if p, err = update(`{"name":"lib","versions":{}}`); err != nil || len(p.Versions) != 2 {
		t.Fatalf("a plain PUT removed versions: %v %d", err, len(p.Versions))
	}
	_, err = update(`{"name":"lib","versions":{"9.0.0":{"deprecated":"x"}}}`)
	wantKind(t, "deprecate an unknown version", err, fault.Invalid)
	_, err = update(`{"name":"lib","versions":{"1.0.0":{"deprecated":5}}}`)
	wantKind(t, "deprecated not a string", err, fault.Invalid)
	_, err = tr.Update(ctx, "other", tr.read(t, `{"name":"other"}`), "", false)
	wantKind(t, "update of a package not hosted", err, fault.NotFound)

	if p, err = tr.SetTag(ctx, "lib", "next", "1.1.0"); err != nil || p.DistTags["next"] != "1.1.0" {
		t.Fatalf("set tag: %v", err)
	}
	_, err = tr.SetTag(ctx, "lib", "next", "3.0.0")
	wantKind(t, "tag of an unknown version", err, fault.NotFound)
	_, err = tr.SetTag(ctx, "lib", "v1", "1.1.0")
	wantKind(t, "tag that looks like a version", err, fault.Invalid)
	_, err = tr.RemoveTag(ctx, "lib", "latest")
	wantKind(t, "remove latest", err, fault.Invalid)
	if p, err = tr.RemoveTag(ctx, "lib", "next"); err != nil || p.DistTags["next"] != "" {
		t.Fatalf("remove tag: %v", err)
	}
	_, err = tr.RemoveTag(ctx, "lib", "next")
	wantKind(t, "remove a missing tag", err, fault.NotFound)
}

func TestUnpublishPolicy(t *testing.T) {
	ctx := context.Background()
	// What npm unpublish lib@1.1.0 sends: the packument without 1.1.0,
	// to /lib/-rev/<rev>.
	without := func(tr *testRegistry, ver string) (*Package, error) {
		p, err := tr.Get(ctx, "lib")
		if err != nil {
			return nil, err
		}
		vers := map[string]any{}
		for v := range p.Versions {
			if v != ver {
				vers[v] = map[string]any{"name": "lib", "version": v}
			}
		}
		b, _ := json.Marshal(map[string]any{"name": "lib", "versions": vers, "dist-tags": p.DistTags})
		return tr.Update(ctx, "lib", tr.read(t, string(b)), p.RevString(), true)
	}
	f := func(policy UnpublishPolicy, age time.Duration, refused bool) {
		t.Helper()
		tr := newTestRegistry(t, policy)
		tr.publish(t, "lib", "1.0.0")
		tr.publish(t, "lib", "1.1.0")
		tr.now = tr.now.Add(age)
		p, err := without(tr, "1.1.0")
		if refused {
			wantKind(t, string(policy)+" after "+age.String(), err, fault.Denied)
			if _, err := tr.Unpublish(ctx, "lib", ""); err == nil || fault.KindOf(err) != fault.Denied {
				t.Fatalf("%s: unpublish all after %s: %v", policy, age, err)
			}
			return
		}
		if err != nil || p.Versions["1.1.0"] != nil || p.DistTags["latest"] != "1.0.0" {
			t.Fatalf("%s after %s: %v %+v", policy, age, err, p)
		}
		// The number is never used again; its tarball is no longer kept.
		_, err = tr.Publish(ctx, "lib", tr.read(t, publishBody("lib", "1.1.0", tarball("lib", "1.1.0"))), "ci")
		wantPublished(t, "re-publish of an unpublished version", err)
		if err := tr.RemoveTarball(ctx, "lib", "lib-1.1.0.tgz", p.RevString()); err != nil {
			t.Fatalf("tarball DELETE after unpublish: %v", err)
		}
		wantKind(t, "tarball DELETE of a live version", tr.RemoveTarball(ctx, "lib", "lib-1.0.0.tgz", ""), fault.Invalid)
		refs := 0
		tr.Referenced(func(digest.Digest) error { refs++; return nil })
		if refs != 1 {
			t.Fatalf("%d tarballs referenced after unpublishing one of two", refs)
		}
		// A stale revision is a conflict.
		_, err = tr.Unpublish(ctx, "lib", "1-0000000000000000")
		wantKind(t, "unpublish with a stale rev", err, fault.Conflict)
		if p, err = tr.Unpublish(ctx, "lib", p.RevString()); err != nil || len(p.Versions) != 0 || len(p.DistTags) != 0 {
			t.Fatalf("unpublish all: %v %+v", err, p)
		}
		if !tr.Hosted("lib") {
			t.Fatal("an unpublished name is no longer hosted: upstream could take it")
		}
		if _, err := tr.Unpublish(ctx, "lib", ""); err == nil || fault.KindOf(err) != fault.NotFound {
			t.Fatalf("unpublish of nothing: %v", err)
		}
	}
	f(UnpublishWithin72h, time.Hour, false)
	f(UnpublishWithin72h, 73*time.Hour, true)
	f(UnpublishAlways, 1000*time.Hour, false)
	f(UnpublishNever, 0, true)
	tr := newTestRegistry(t, "")
	if _, err := Open(ctx, tr.store, tr.c, Options{Unpublish: "sometimes"}); err == nil {
		t.Fatal("unknown policy accepted")
	}
	var p UnpublishPolicy
	if p.UnmarshalText([]byte("sometimes")) == nil || p.UnmarshalText([]byte("never")) != nil || p != UnpublishNever {
		t.Fatal("UnmarshalText")
	}
}

func TestPackument(t *testing.T) {
	tr := newTestRegistry(t, "")
	tr.publish(t, "@acme/lib", "1.0.0")
	p, _ := tr.Update(context.Background(), "@acme/lib", tr.read(t, `{"versions":{"1.0.0":{"deprecated":"old <stuff>"}}}`), "", false)
	const base = "http://nora.test:4000/npm/"
	full, err := p.Packument(base, false)
	if err != nil {
		t.Fatal(err)
	}
	abbr, err := p.Packument(base, true)
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Name     string            `json:"name"`
		Rev      string            `json:"_rev"`
		Readme   *string           `json:"readme"`
		Modified string            `json:"modified"`
		Time     map[string]string `json:"time"`
		DistTags map[string]string `json:"dist-tags"`
		Versions map[string]map[string]json.RawMessage
	}
	var fd, ad doc
	if err := json.Unmarshal(full, &fd); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(abbr, &ad); err != nil {
		t.Fatal(err)
	}
	wantDist := `{"integrity":"` + p.Versions["1.0.0"].Integrity + `","shasum":"` + p.Versions["1.0.0"].Shasum + `","tarball":"` + base + `@acme/lib/-/lib-1.0.0.tgz"}`
	for _, d := range []doc{fd, ad} {
		v := d.Versions["1.0.0"]
		if d.Name != "@acme/lib" || d.DistTags["latest"] != "1.0.0" || string(v["dist"]) != wantDist ||
			string(v["deprecated"]) != `"old <stuff>"` || string(v["dependencies"]) != `{"dep":"^1.0.0"}` {
			t.Fatalf("packument %+v\ndist %s", d, v["dist"])
		}
	}
	if fd.Rev != p.RevString() || fd.Readme == nil || *fd.Readme != "# @acme/lib" || fd.Time["1.0.0"] != "2025-01-01T00:00:00.000Z" || fd.Versions["1.0.0"]["main"] == nil {
		t.Fatalf("full packument: %s", full)
	}
	if ad.Readme != nil || ad.Modified == "" || ad.Versions["1.0.0"]["main"] != nil || ad.Versions["1.0.0"]["readme"] != nil {
		t.Fatalf("abbreviated packument: %s", abbr)
	}
}

// Concurrent publishes of one package lose no version.
func TestConcurrentPublishes(t *testing.T) {
	tr := newTestRegistry(t, "")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			ver := fmt.Sprintf("1.0.%d", i)
			doc, err := ReadDocument(strings.NewReader(publishBody("lib", ver, tarball("lib", ver))), tr.c.TempDir(), Limits{})
			if err == nil {
				_, err = tr.Publish(context.Background(), "lib", doc, "ci")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := tr.Get(context.Background(), "lib")
	if err != nil || len(p.Versions) != 16 || p.Rev != 16 || p.DistTags["latest"] == "" {
		t.Fatalf("after 16 concurrent publishes: %v, %d versions, rev %d", err, len(p.Versions), p.Rev)
	}
	seen := map[digest.Digest]bool{}
	stop := errors.New("stop")
	if err := tr.Referenced(func(d digest.Digest) error { seen[d] = true; return nil }); err != nil || len(seen) != 16 {
		t.Fatalf("Referenced: %v, %d digests", err, len(seen))
	}
	if err := tr.Referenced(func(digest.Digest) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Referenced did not pass on its callback's error: %v", err)
	}
	for d := range seen {
		if _, err := os.Stat(filepath.Join(tr.dir, "objects", filepath.FromSlash(cache.BlobKey(d)))); err != nil {
			t.Fatalf("referenced tarball %s not stored: %v", d, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	f := func(a, b string, want int) {
		t.Helper()
		va, ok1 := parseVersion(a)
		vb, ok2 := parseVersion(b)
		if !ok1 || !ok2 || va.compare(vb) != want || vb.compare(va) != -want {
			t.Fatalf("compare(%s, %s): want %d", a, b, want)
		}
	}
	f("1.0.0", "1.0.0", 0)
	f("1.0.0", "1.0.0+build.1", 0)
	f("1.0.1", "1.0.0", 1)
	f("1.10.0", "1.9.0", 1)
	f("1.0.0", "1.0.0-rc.1", 1)
	f("1.0.0-rc.10", "1.0.0-rc.9", 1)
	f("1.0.0-rc.1", "1.0.0-beta.2", 1)
	f("1.0.0-alpha.beta", "1.0.0-alpha.1", 1)
	f("1.0.0-alpha.1", "1.0.0-alpha", 1)
	for _, bad := range []string{"", "1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "1.0.0+", "1.0.0-a..b", "1.0.0 ", "a.b.c"} {
		if _, ok := parseVersion(bad); ok {
			t.Fatalf("parseVersion(%q) accepted", bad)
		}
	}
	for tag, want := range map[string]bool{"latest": true, "next": true, "beta-2": true, "1.x": false, "v1": false, "x": false, "": false, "a b": false, "^1": false} {
		if validTag(tag) != want {
			t.Fatalf("validTag(%q) = %v", tag, !want)
		}
	}
}
