package pypi

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
	"nora/internal/fault"
)

// testCache is a cache on a disk store, built as the wiring builds it: the
// hosted state gets the store itself.
type testCache struct {
	*cache.Cache
	store cache.Store
}

func newCache(t *testing.T, dir string) *testCache {
	t.Helper()
	c := cachetest.Open(t, dir)
	s, err := disk.Open(dir) // the hosted state's port onto the cache's directory
	if err != nil {
		t.Fatal(err)
	}
	return &testCache{Cache: c, store: s}
}

// refused reports whether err is a refusal of kind k whose message for the
// client starts with prefix.
func refused(err error, k fault.Kind, prefix string) bool {
	return err != nil && fault.KindOf(err) == k && strings.HasPrefix(fault.Message(err), prefix)
}

func openRegistry(t *testing.T, c *testCache) *Registry {
	t.Helper()
	r, err := Open(context.Background(), c.store, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testWheel is a minimal wheel of name (as written in METADATA) and version.
func testWheel(t testing.TB, name, version, requiresPython string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	dist := strings.ReplaceAll(NormalizeName(name), "-", "_")
	md := "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"
	if requiresPython != "" {
		md += "Requires-Python: " + requiresPython + "\n"
	}
	for file, body := range map[string]string{
		dist + ".py": "X = 1\n",
		dist + "-" + version + ".dist-info/METADATA": md,
		dist + "-" + version + ".dist-info/WHEEL":    "Wheel-Version: 1.0\n",
	} {
		w, err := zw.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sum256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func publish(r *Registry, m Release, data []byte) (File, bool, error) {
	u, err := r.NewUpload()
	if err != nil {
		return File{}, false, err
	}
	u.Write(data)
	return r.Publish(context.Background(), u, m)
}

func wheelRelease(name, version string, data []byte) Release {
	file := fmt.Sprintf("%s-%s-py3-none-any.whl", strings.ReplaceAll(NormalizeName(name), "-", "_"), version)
	return Release{Name: name, Version: version, Filetype: Wheel, Filename: file, SHA256: sum256(data)}
}

func tempFiles(t *testing.T, c *testCache) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(c.TempDir(), "pypi-upload-*"))
	return len(m)
}

func TestPublish(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, dir)
	r := openRegistry(t, c)
	ctx := context.Background()
	whl := testWheel(t, "Acme_Lib", "1.0.0", ">=3.8")
	m := wheelRelease("Acme_Lib", "1.0.0", whl)

	f, created, err := publish(r, m, whl)
	if err != nil || !created {
		t.Fatalf("publish: %v %v", created, err)
	}
	if f.Filename != "acme_lib-1.0.0-py3-none-any.whl" || f.Version != "1.0.0" || f.RequiresPython != ">=3.8" || f.Size != int64(len(whl)) || f.MetadataSHA256 == "" || f.MD5 != "" {
		t.Fatalf("published %+v", f)
	}
	if !r.Hosted("acme-lib") || r.Hosted("acme_lib") {
		t.Fatal("the project is not hosted under its normalized name")
	}
	if _, err := c.Stat(ctx, cache.BlobKey(f.Digest())); err != nil {
		t.Fatalf("the wheel is not stored: %v", err)
	}
	obj, err := c.Open(ctx, cache.BlobKey(f.MetadataDigest()))
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()

	// The same bytes again: accepted, nothing changes. Other bytes: refused.
	if _, created, err := publish(r, m, whl); err != nil || created {
		t.Fatalf("identical re-upload: %v %v", created, err)
	}
	other := testWheel(t, "Acme_Lib", "1.0.0", ">=3.9")
	if _, _, err := publish(r, wheelRelease("acme-lib", "1.0.0", other), other); !refused(err, fault.Conflict, "File already exists") {
		t.Fatalf("other bytes under the same name: %v", err)
	}
	// Declared digests that do not match, a METADATA naming another
	// version, a wheel that is no zip: refused, nothing stored.
	v2 := testWheel(t, "acme-lib", "2.0", "")
	bad := wheelRelease("acme-lib", "2.0", v2)
	bad.SHA256 = sum256([]byte("other"))
	if _, _, err := publish(r, bad, v2); !refused(err, fault.Invalid, "digest mismatch") {
		t.Fatalf("wrong sha256: %v", err)
	}
	bad = wheelRelease("acme-lib", "2.0", v2)
	bad.MD5 = "00000000000000000000000000000000"
	if _, _, err := publish(r, bad, v2); !refused(err, fault.Invalid, "digest mismatch") {
		t.Fatalf("wrong md5: %v", err)
	}
	bad = wheelRelease("acme-lib", "2.0", v2)
	bad.SHA256 = ""
	if _, _, err := publish(r, bad, v2); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("no digest: %v", err)
	}
	lying := testWheel(t, "acme-lib", "3.0", "")
	if _, _, err := publish(r, wheelRelease("acme-lib", "2.0", lying), lying); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("METADATA of another version: %v", err)
	}
	if _, _, err := publish(r, wheelRelease("acme-lib", "2.0", []byte("not a zip")), []byte("not a zip")); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("not a zip: %v", err)
	}
	bad = wheelRelease("acme-lib", "2.0", v2)
	bad.Filetype = Sdist
	if _, _, err := publish(r, bad, v2); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("filetype sdist for a wheel: %v", err)
	}
	for _, d := range []string{sum256(v2), sum256(lying), sum256([]byte("not a zip"))} {
		if _, err := c.Stat(ctx, cache.BlobKey(digest.NewDigestFromEncoded(digest.SHA256, d))); err == nil {
			t.Fatal("a refused upload was stored")
		}
	}
	if n := tempFiles(t, c); n != 0 {
		t.Fatalf("%d upload temp files left", n)
	}

	// An sdist, with a blake2 digest only; a second sdist of that release
	// is refused.
	sd := []byte("sdist bytes")
	sdm := Release{Name: "acme-lib", Version: "1.0", Filename: "acme-lib-1.0.0.tar.gz", Blake2b256: "", SHA256: sum256(sd)}
	if _, _, err := publish(r, sdm, sd); err != nil {
		t.Fatal(err)
	}
	sdm.Filename = "acme_lib-1.0.0.zip"
	if _, _, err := publish(r, sdm, sd); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("second sdist of a release: %v", err)
	}

	// Reopened from the store: the same state.
	r2 := openRegistry(t, c)
	p, err := r2.Project(ctx, "acme-lib")
	if err != nil || len(p.Files) != 2 || p.Rev() == "" {
		t.Fatalf("reopened: %+v %v", p, err)
	}
	if vs := p.Versions(); len(vs) != 2 || vs[0] != "1.0.0" || vs[1] != "1.0" {
		t.Fatalf("versions %v", vs)
	}
	if _, err := r2.Project(ctx, "other"); !refused(err, fault.NotFound, "project ") {
		t.Fatalf("unknown project: %v", err)
	}
	var refs []digest.Digest
	r2.Referenced(func(d digest.Digest) error { refs = append(refs, d); return nil })
	if len(refs) != 3 { // wheel, its metadata, sdist
		t.Fatalf("Referenced: %v", refs)
	}
}

func TestYank(t *testing.T) {
	c := newCache(t, t.TempDir())
	r := openRegistry(t, c)
	ctx := context.Background()
	for _, v := range []string{"1.0", "1.1"} {
		whl := testWheel(t, "acme-lib", v, "")
		if _, _, err := publish(r, wheelRelease("acme-lib", v, whl), whl); err != nil {
			t.Fatal(err)
		}
	}
	sd := []byte("sdist")
	if _, _, err := publish(r, Release{Name: "acme-lib", Version: "1.1", Filename: "acme_lib-1.1.tar.gz", SHA256: sum256(sd)}, sd); err != nil {
		t.Fatal(err)
	}
	yanked := func() map[string]string {
		p, _ := r.Project(ctx, "acme-lib")
		out := map[string]string{}
		for _, f := range p.Files {
			if f.Yanked {
				out[f.Filename] = f.YankedReason
			}
		}
		return out
	}
	names, err := r.Yank(ctx, "acme-lib", "1.1.0", "", true, "broken")
	if err != nil || len(names) != 2 {
		t.Fatalf("yank 1.1.0: %v %v", names, err)
	}
	if y := yanked(); len(y) != 2 || y["acme_lib-1.1.tar.gz"] != "broken" {
		t.Fatalf("yanked %v", y)
	}
	if _, err := r.Yank(ctx, "acme-lib", "1.1", "acme_lib-1.1.tar.gz", false, ""); err != nil {
		t.Fatal(err)
	}
	if y := yanked(); len(y) != 1 || y["acme_lib-1.1-py3-none-any.whl"] != "broken" {
		t.Fatalf("after unyanking the sdist: %v", y)
	}
	if _, err := r.Yank(ctx, "acme-lib", "9", "", true, ""); !refused(err, fault.NotFound, "no such file or version") {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := r.Yank(ctx, "acme-lib", "1.0", "acme_lib-1.1.tar.gz", true, ""); !refused(err, fault.NotFound, "no such file or version") {
		t.Fatalf("file of another version: %v", err)
	}
	if _, err := r.Yank(ctx, "acme-lib", "x y", "", true, ""); !refused(err, fault.Invalid, "invalid upload") {
		t.Fatalf("bad version: %v", err)
	}
	if _, err := r.Yank(ctx, "nope", "1", "", true, ""); !refused(err, fault.NotFound, "project ") {
		t.Fatalf("unknown project: %v", err)
	}
	if y := yanked(); len(openYanked(t, c)) != len(y) {
		t.Fatal("the yank state was not stored")
	}
}

func openYanked(t *testing.T, c *testCache) []string {
	p, err := openRegistry(t, c).Project(context.Background(), "acme-lib")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range p.Files {
		if f.Yanked {
			out = append(out, f.Filename)
		}
	}
	return out
}

// TestConcurrentPublish: uploads of one project at once lose no file.
func TestConcurrentPublish(t *testing.T) {
	c := newCache(t, t.TempDir())
	r := openRegistry(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		for _, project := range []string{"acme-lib", "acme-other"} {
			wg.Go(func() {
				v := fmt.Sprintf("1.%d", i)
				whl := testWheel(t, project, v, "")
				if _, _, err := publish(r, wheelRelease(project, v, whl), whl); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r2 := openRegistry(t, c)
	for _, project := range []string{"acme-lib", "acme-other"} {
		p, err := r2.Project(context.Background(), project)
		if err != nil || len(p.Files) != 16 {
			t.Fatalf("%s after 16 concurrent uploads: %d files, %v", project, len(p.Files), err)
		}
	}
	if got := r2.Projects(); len(got) != 2 {
		t.Fatalf("projects %v", got)
	}
}

// TestHostedEmptyDocument: a name stored as hosted whose document was never
// written (a crash between the two writes) stays hosted, with no files.
func TestHostedEmptyDocument(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, dir)
	r := openRegistry(t, c)
	if err := r.names.Add(context.Background(), "ghost"); err != nil {
		t.Fatal(err)
	}
	p, err := openRegistry(t, c).Project(context.Background(), "ghost")
	if err != nil || len(p.Files) != 0 || p.Rev() != "" {
		t.Fatalf("ghost: %+v %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "hosted", "pypi", "_projects.json")); err != nil {
		t.Fatal(err)
	}
}
