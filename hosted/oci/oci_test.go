package oci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/hosted/oci"
	"nora/internal/fault"
)

func newRegistry(t *testing.T, cfg oci.Config) (*oci.Registry, *cache.Cache) {
	t.Helper()
	c, store := cachetest.OpenStore(t, t.TempDir())
	return openRegistry(t, store, c, cfg), c
}

// openRegistry opens the hosted state kept in store on c, closed when the
// test ends.
func openRegistry(t *testing.T, store cache.Store, c *cache.Cache, cfg oci.Config) *oci.Registry {
	t.Helper()
	r, err := oci.Open(t.Context(), store, c, "", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// pushBlob uploads b into repo in one chunk.
func pushBlob(t *testing.T, r *oci.Registry, repo string, b []byte) digest.Digest {
	t.Helper()
	u, err := r.StartUpload(repo, "ci")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release(u)
	if _, err := u.Write(bytes.NewReader(b), 0, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if err := r.Commit(context.Background(), u, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// sized is a layer as a descriptor names it.
type sized struct {
	d digest.Digest
	n int
}

func imageManifest(config digest.Digest, configSize int, layers []sized, extra string) []byte {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, l.d, l.n))
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]%s}`,
		config, configSize, strings.Join(ls, ","), extra))
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

func TestManifestsTagsReferrers(t *testing.T) { onBackends(t, testManifestsTagsReferrers) }

func testManifestsTagsReferrers(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{})
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte(`{"architecture":"amd64"}`))
	layer := pushBlob(t, r, "app", []byte("layer"))
	m := imageManifest(config, 24, []sized{{layer, 5}}, "")
	got, err := r.PutManifest(ctx, "app", "", []string{"v1", "latest"}, m, ociManifest)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digest.FromBytes(m) || got.MediaType != ociManifest || got.Size != int64(len(m)) {
		t.Fatalf("PutManifest = %+v", got)
	}
	for _, tag := range []string{"v1", "latest"} {
		if m, err := r.Manifest("app", "", tag); err != nil || m.Digest != got.Digest {
			t.Fatalf("Manifest(%s) = %+v, %v", tag, m, err)
		}
	}
	if _, err := r.Manifest("app", "", "nope"); !errors.Is(err, oci.ErrManifestUnknown) || !errors.Is(err, fault.NotFound) {
		t.Fatalf("unknown tag: %v", err)
	}
	if _, err := r.Manifest("other", "", "v1"); !errors.Is(err, oci.ErrNameUnknown) {
		t.Fatalf("unknown repository: %v", err)
	}

	// Two referrers of the manifest, of two artifact types.
	sig := imageManifest(config, 24, nil, fmt.Sprintf(`,"artifactType":"application/x.sig","subject":{"mediaType":"%s","digest":"%s","size":%d},"annotations":{"k":"v"}`, ociManifest, got.Digest, len(m)))
	sbom := imageManifest(config, 24, nil, fmt.Sprintf(`,"subject":{"mediaType":"%s","digest":"%s","size":%d}`, ociManifest, got.Digest, len(m)))
	sm, err := r.PutManifest(ctx, "app", digest.FromBytes(sig), nil, sig, ociManifest)
	if err != nil || sm.Subject != got.Digest {
		t.Fatalf("referrer: %+v %v", sm, err)
	}
	if _, err := r.PutManifest(ctx, "app", "", []string{"sbom"}, sbom, ociManifest); err != nil {
		t.Fatal(err)
	}
	refs, err := r.Referrers("app", got.Digest, "")
	if err != nil || len(refs) != 2 {
		t.Fatalf("Referrers = %+v, %v", refs, err)
	}
	refs, _ = r.Referrers("app", got.Digest, "application/x.sig")
	if len(refs) != 1 || refs[0].Digest != digest.FromBytes(sig) || refs[0].Annotations["k"] != "v" || refs[0].Size != int64(len(sig)) {
		t.Fatalf("filtered referrers = %+v", refs)
	}
	// Without artifactType, an image manifest's is its config media type.
	refs, _ = r.Referrers("app", got.Digest, "application/vnd.oci.image.config.v1+json")
	if len(refs) != 1 || refs[0].Digest != digest.FromBytes(sbom) {
		t.Fatalf("referrers by config type = %+v", refs)
	}
	if refs, _ := r.Referrers("app", digest.FromString("x"), ""); len(refs) != 0 {
		t.Fatalf("unknown subject has referrers %+v", refs)
	}

	tags, more, err := r.Tags("app", "", 10)
	if err != nil || more || !slices.Equal(tags, []string{"latest", "sbom", "v1"}) {
		t.Fatalf("Tags = %v %v %v", tags, more, err)
	}
	// Deleting the sbom drops its tag and its referrer entry.
	if err := r.DeleteManifest("app", digest.FromBytes(sbom)); err != nil {
		t.Fatal(err)
	}
	if tags, _, _ := r.Tags("app", "", 10); !slices.Equal(tags, []string{"latest", "v1"}) {
		t.Fatalf("tags after delete: %v", tags)
	}
	if refs, _ := r.Referrers("app", got.Digest, ""); len(refs) != 1 {
		t.Fatalf("referrers after delete: %+v", refs)
	}
	if err := r.DeleteTag("app", "latest"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteTag("app", "latest"); !errors.Is(err, oci.ErrManifestUnknown) {
		t.Fatalf("second tag delete: %v", err)
	}

	// GC must keep what hosted state references, even a blob whose link
	// was deleted while a manifest still needs it.
	if err := r.DeleteBlob("app", layer); err != nil {
		t.Fatal(err)
	}
	if _, err := r.StatBlob(context.Background(), "app", layer); !errors.Is(err, oci.ErrBlobUnknown) {
		t.Fatalf("unlinked blob: %v", err)
	}
	seen := map[digest.Digest]bool{}
	if err := r.Referenced(func(d digest.Digest) error { seen[d] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{config, layer, got.Digest, digest.FromBytes(sig)} {
		if !seen[d] {
			t.Errorf("Referenced misses %s", d)
		}
	}
	stop := errors.New("stop")
	if err := r.Referenced(func(digest.Digest) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Referenced did not pass on its callback's error: %v", err)
	}
}

func TestManifestChecks(t *testing.T) { onBackends(t, testManifestChecks) }

func testManifestChecks(t *testing.T, open opener) {
	r, c := open(t, oci.Config{})
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte("{}"))
	missing := digest.FromString("missing")
	f := func(name string, body []byte, want digest.Digest, ct string, wantErr error) {
		t.Helper()
		_, err := r.PutManifest(ctx, "app", want, []string{"t"}, body, ct)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s: %v, want %v", name, err, wantErr)
		}
	}
	f("missing layer", imageManifest(config, 2, []sized{{missing, 1}}, ""), "", ociManifest, oci.ErrManifestBlobUnknown)
	f("missing config", imageManifest(missing, 2, nil, ""), "", ociManifest, oci.ErrManifestBlobUnknown)
	f("wrong digest", imageManifest(config, 2, nil, ""), missing, ociManifest, oci.ErrDigestInvalid)
	f("missing child", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+missing.String()+`","size":1}]}`), "", "", oci.ErrManifestBlobUnknown)
	f("type mismatch", imageManifest(config, 2, nil, ""), "", "application/vnd.oci.image.index.v1+json", oci.ErrManifestInvalid)
	// A layer with urls (non-distributable) need not be pushed.
	nd := bytes.Replace(imageManifest(config, 2, []sized{{missing, 1}}, ""), []byte(`"size":1}`), []byte(`"size":1,"urls":["https://example.invalid/x"]}`), 1)
	f("non-distributable layer", nd, "", ociManifest, nil)
	// A blob in the shared store (pulled through the cache, pushed
	// elsewhere) may be referenced; it is linked then.
	shared := []byte("cached layer")
	if err := c.PutBlob(ctx, digest.FromBytes(shared), shared); err != nil {
		t.Fatal(err)
	}
	f("blob from the store", imageManifest(config, 2, []sized{{digest.FromBytes(shared), len(shared)}}, ""), "", ociManifest, nil)
	if size, err := r.StatBlob(context.Background(), "app", digest.FromBytes(shared)); err != nil || size != int64(len(shared)) {
		t.Fatalf("store blob not linked: %d %v", size, err)
	}
	// sha512 manifests are addressed by sha512.
	m := imageManifest(config, 2, nil, `,"annotations":{"a":"512"}`)
	d512 := digest.SHA512.FromBytes(m)
	got, err := r.PutManifest(ctx, "app", d512, nil, m, ociManifest)
	if err != nil || got.Digest != d512 {
		t.Fatalf("sha512 manifest: %+v %v", got, err)
	}
	if m, err := r.Manifest("app", d512, ""); err != nil || m.Digest != d512 {
		t.Fatalf("sha512 lookup: %+v %v", m, err)
	}
}

// A descriptor's size is what a client trusts to bound its read: one that
// is not the stored object's makes the manifest invalid, and nothing of it
// is stored.
func TestManifestDescriptorSizes(t *testing.T) { onBackends(t, testManifestDescriptorSizes) }

func testManifestDescriptorSizes(t *testing.T, open opener) {
	r, c := open(t, oci.Config{})
	ctx := context.Background()
	config := pushBlob(t, r, "app", []byte(`{"architecture":"amd64"}`))
	layer := pushBlob(t, r, "app", []byte("layer"))
	good := imageManifest(config, 24, []sized{{layer, 5}}, "")
	if _, err := r.PutManifest(ctx, "app", "", []string{"good"}, good, ociManifest); err != nil {
		t.Fatal(err)
	}
	index := func(child []byte, size int) []byte {
		return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"%s","size":%d}]}`,
			ociManifest, digest.FromBytes(child), size)
	}
	f := func(what string, body []byte, ct string) {
		t.Helper()
		_, err := r.PutManifest(ctx, "app", "", []string{"bad"}, body, ct)
		if !errors.Is(err, oci.ErrManifestInvalid) || !strings.Contains(err.Error(), "bytes") {
			t.Fatalf("%s: %v, want ErrManifestInvalid naming the sizes", what, err)
		}
		if _, err := c.Stat(ctx, cache.BlobKey(digest.FromBytes(body))); err == nil {
			t.Fatalf("%s: the refused manifest was stored", what)
		}
		if _, err := r.Manifest("app", "", "bad"); !errors.Is(err, oci.ErrManifestUnknown) {
			t.Fatalf("%s: tag of the refused manifest: %v", what, err)
		}
	}
	f("config too large", imageManifest(config, 9999, []sized{{layer, 5}}, ""), ociManifest)
	f("config too small", imageManifest(config, 23, []sized{{layer, 5}}, ""), ociManifest)
	f("layer", imageManifest(config, 24, []sized{{layer, 1}}, ""), ociManifest)
	f("layer of size 0", imageManifest(config, 24, []sized{{layer, 0}}, ""), ociManifest)
	f("child manifest", index(good, len(good)+1), "")
	if _, err := r.PutManifest(ctx, "app", "", []string{"list"}, index(good, len(good)), ""); err != nil {
		t.Fatalf("index with the right size: %v", err)
	}
}

func TestMount(t *testing.T) { onBackends(t, testMount) }

func testMount(t *testing.T, open opener) {
	r, c := open(t, oci.Config{})
	ctx := context.Background()
	d := pushBlob(t, r, "src", []byte("shared layer"))
	f := func(repo, from string, d digest.Digest, want bool) {
		t.Helper()
		ok, err := r.Mount(ctx, repo, d, from)
		if err != nil || ok != want {
			t.Fatalf("Mount(%s, %s, from %q) = %v, %v", repo, d, from, ok, err)
		}
	}
	f("dst", "src", d, true)
	f("dst2", "", d, true)                             // anonymous: the blob is in the store
	f("dst3", "elsewhere", d, true)                    // from is not hosted: same
	f("dst5", "src", digest.FromString("none"), false) // not linked in src
	f("dst6", "", digest.FromString("none"), false)
	if _, err := r.StatBlob(context.Background(), "dst", d); err != nil {
		t.Fatal(err)
	}
	if r.Exists("dst5") || r.Exists("dst6") {
		t.Fatal("a failed mount created a repository")
	}
	// From a hosted repository the blob must be linked there, even when
	// the store has it.
	other := []byte("in the store only")
	c.PutBlob(ctx, digest.FromBytes(other), other)
	f("dst7", "src", digest.FromBytes(other), false)
}

func TestUploads(t *testing.T) { onBackends(t, testUploads) }

func testUploads(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{MaxUploads: 2})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 10000)
	u, err := r.StartUpload("app", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(bytes.NewReader(data[:100]), 0, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(bytes.NewReader(data[200:300]), 200, 100); !errors.Is(err, oci.ErrRangeInvalid) {
		t.Fatalf("chunk out of order: %v", err)
	}
	// A chunk that breaks off leaves the session as it was.
	if _, err := u.Write(io.MultiReader(bytes.NewReader(data[100:150]), errReader{}), 100, 1000); !errors.Is(err, oci.ErrTruncated) {
		t.Fatalf("broken chunk: %v", err)
	}
	if _, err := u.Write(bytes.NewReader(data[100:150]), 100, 1000); !errors.Is(err, oci.ErrTruncated) {
		t.Fatalf("short chunk: %v", err)
	}
	if u.Size() != 100 {
		t.Fatalf("size after broken chunks %d", u.Size())
	}
	r.Release(u)
	if _, err := r.OpenUpload("app", "someone-else", u.ID()); !errors.Is(err, oci.ErrUploadUnknown) {
		t.Fatalf("session of another user: %v", err)
	}
	if _, err := r.OpenUpload("other", "ci", u.ID()); !errors.Is(err, oci.ErrUploadUnknown) {
		t.Fatalf("session of another repository: %v", err)
	}
	u, err = r.OpenUpload("app", "ci", u.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.OpenUpload("app", "ci", u.ID()); !errors.Is(err, oci.ErrUploadBusy) {
		t.Fatalf("session in use: %v", err)
	}
	if _, err := u.Write(bytes.NewReader(data[100:]), -1, -1); err != nil {
		t.Fatal(err)
	}
	// The running sha256 survived the rollbacks: the commit verifies.
	if err := r.Commit(ctx, u, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	r.Release(u)
	if size, err := r.StatBlob(context.Background(), "app", digest.FromBytes(data)); err != nil || size != int64(len(data)) {
		t.Fatalf("committed blob: %d %v", size, err)
	}

	// sha512 rereads the file.
	u, _ = r.StartUpload("app", "ci")
	u.Write(bytes.NewReader(data), -1, int64(len(data)))
	if err := r.Commit(ctx, u, digest.SHA512.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	r.Release(u)

	// Session limit.
	a, _ := r.StartUpload("app", "ci")
	b, _ := r.StartUpload("app", "ci")
	if _, err := r.StartUpload("app", "ci"); !errors.Is(err, oci.ErrTooManyUploads) || !errors.Is(err, fault.RateLimited) || fault.RetryAfter(err) <= 0 {
		t.Fatalf("third session: %v (retry after %d)", err, fault.RetryAfter(err))
	}
	r.Cancel(a)
	r.Release(a)
	r.Release(b)
	if r.Uploads() != 1 {
		t.Fatalf("%d sessions", r.Uploads())
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestIdleUploadsExpire(t *testing.T) { onBackends(t, testIdleUploadsExpire) }

func testIdleUploadsExpire(t *testing.T, open opener) {
	r, c := open(t, oci.Config{UploadIdle: 50 * time.Millisecond})
	u, err := r.StartUpload("app", "ci")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(strings.NewReader("partial"), -1, -1)
	r.Release(u)
	// The session leaves the table before its temp file goes.
	temps := func() int { entries, _ := os.ReadDir(c.TempDir()); return len(entries) }
	for deadline := time.Now().Add(5 * time.Second); r.Uploads() > 0 || temps() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("idle session never expired: %d sessions, %d temp files", r.Uploads(), temps())
		}
	}
	if r.Exists("app") {
		t.Fatal("an upload that committed nothing created the repository")
	}
}

// TestSessionWithoutBytes: a session a client abandons before sending a
// byte (crane stopping the uploads of a push when one blob failed) holds
// no temp file, and one committed without a byte stores the empty blob.
func TestSessionWithoutBytes(t *testing.T) { onBackends(t, testSessionWithoutBytes) }

func testSessionWithoutBytes(t *testing.T, open opener) {
	r, c := open(t, oci.Config{})
	abandoned, err := r.StartUpload("app", "ci")
	if err != nil {
		t.Fatal(err)
	}
	r.Release(abandoned)
	if entries, _ := os.ReadDir(c.TempDir()); len(entries) != 0 {
		t.Fatalf("a session with no bytes holds %d temp files", len(entries))
	}
	u, err := r.StartUpload("app", "ci")
	if err != nil {
		t.Fatal(err)
	}
	empty := digest.FromBytes(nil)
	if err := r.Commit(t.Context(), u, empty); err != nil {
		t.Fatal(err)
	}
	r.Release(u)
	if size, err := r.StatBlob(t.Context(), "app", empty); err != nil || size != 0 {
		t.Fatalf("empty blob: %d %v", size, err)
	}
}

func TestRepositoriesPage(t *testing.T) { onBackends(t, testRepositoriesPage) }

func testRepositoriesPage(t *testing.T, open opener) {
	r, _ := open(t, oci.Config{})
	for _, name := range []string{"b", "a/x", "c", "a"} {
		pushBlob(t, r, name, []byte(name))
	}
	f := func(last string, n int, want []string, wantMore bool) {
		t.Helper()
		got, more, err := r.Repositories(last, n, func(name string) bool { return name != "c" })
		if err != nil || !slices.Equal(got, want) || more != wantMore {
			t.Fatalf("Repositories(%q, %d) = %v %v %v", last, n, got, more, err)
		}
	}
	f("", 10, []string{"a", "a/x", "b"}, false)
	f("", 2, []string{"a", "a/x"}, true)
	f("a/x", 2, []string{"b"}, false)
	f("a/w", 1, []string{"a/x"}, true)
	f("z", 5, []string{}, false)
}
