package maven

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
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

// testCache is a disk-backed cache and the store port onto its directory.
type testCache struct {
	*cache.Cache
	store cache.Store
}

func newCache(t *testing.T) testCache {
	t.Helper()
	dir := t.TempDir()
	c := cachetest.Open(t, dir)
	s, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return testCache{c, s}
}

func openRegistry(t *testing.T, c testCache) *Registry {
	t.Helper()
	r, err := Open(context.Background(), c.store, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// A clock that ticks one second per call, from a fixed start.
	var mu sync.Mutex
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	r.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	return r
}

func coord(path string) Coord {
	segs := strings.Split(path, "/")
	n := len(segs)
	return Coord{strings.Join(segs[:n-3], "/"), segs[n-3], segs[n-2], segs[n-1]}
}

func upload(t *testing.T, r *Registry, path, body string) bool {
	t.Helper()
	created, err := r.Upload(context.Background(), coord(path), strings.NewReader(body), int64(len(body)), 1<<20, "ci")
	if err != nil {
		t.Fatalf("upload %s: %v", path, err)
	}
	return created
}

func read(t *testing.T, r *Registry, path string) (string, error) {
	t.Helper()
	f, _, err := r.File(context.Background(), coord(path))
	if err != nil {
		return "", err
	}
	obj, err := r.blobs.Open(context.Background(), cache.BlobKey(f.Digest))
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func metadata(t *testing.T, r *Registry, dir string) string {
	t.Helper()
	b, err := r.Metadata(context.Background(), dir)
	if err != nil {
		t.Fatalf("metadata of %s: %v", dir, err)
	}
	return string(b)
}

func TestDeployAndMetadata(t *testing.T) {
	r := openRegistry(t, newCache(t))
	ctx := context.Background()
	const rel = "com/acme/lib/1.0/lib-1.0"
	if !upload(t, r, rel+".jar", "jar 1.0") || !upload(t, r, rel+".pom", "<project/>") {
		t.Fatal("first upload not created")
	}
	if !r.Hosted("com/acme/lib") || r.Hosted("com/acme") {
		t.Fatal("hosted directories wrong")
	}
	// The same bytes again: accepted, nothing changes. Other bytes: 409,
	// refused from the declared length alone or after reading.
	if upload(t, r, rel+".jar", "jar 1.0") {
		t.Fatal("identical redeploy reported as created")
	}
	for _, length := range []int64{3, 7, -1} {
		body := map[int64]string{3: "abc", 7: "jar 2.0", -1: "jar 2.0"}[length]
		if _, err := r.Upload(ctx, coord(rel+".jar"), strings.NewReader(body), length, 1<<20, "ci"); !errors.Is(err, fault.Conflict) {
			t.Fatalf("redeploy with other bytes (length %d): %v", length, err)
		}
	}
	if got, _ := read(t, r, rel+".jar"); got != "jar 1.0" {
		t.Fatalf("release changed: %q", got)
	}

	// Two SNAPSHOT builds; the second adds a classifier.
	const snap = "com/acme/lib/1.1-SNAPSHOT/lib-1.1-"
	upload(t, r, snap+"20240102.030405-1.jar", "jar build 1")
	upload(t, r, snap+"20240102.030405-1.pom", "<project/>")
	upload(t, r, snap+"20240103.000000-2.jar", "jar build 2")
	upload(t, r, snap+"20240103.000000-2.pom", "<project/>")
	upload(t, r, snap+"20240103.000000-2-sources.jar", "sources build 2")
	upload(t, r, "com/acme/lib/1.10/lib-1.10.pom", "<project/>")

	f := func(path, want string) {
		t.Helper()
		got, err := read(t, r, path)
		if err != nil || got != want {
			t.Fatalf("%s: %q %v, want %q", path, got, err, want)
		}
	}
	f("com/acme/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar", "jar build 2")
	f("com/acme/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT-sources.jar", "sources build 2")
	f(snap+"20240102.030405-1.jar", "jar build 1")
	if _, err := read(t, r, "com/acme/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT-javadoc.jar"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("missing classifier: %v", err)
	}
	if _, err := read(t, r, "com/acme/lib/2.0/lib-2.0.jar"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("missing version: %v", err)
	}

	want := `<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>com.acme</groupId>
  <artifactId>lib</artifactId>
  <versioning>
    <latest>1.10</latest>
    <release>1.10</release>
    <versions>
      <version>1.0</version>
      <version>1.1-SNAPSHOT</version>
      <version>1.10</version>
    </versions>
    <lastUpdated>20240102030413</lastUpdated>
  </versioning>
</metadata>
`
	if got := metadata(t, r, "com/acme/lib"); got != want {
		t.Fatalf("artifact metadata:\n%s\nwant:\n%s", got, want)
	}
	want = `<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>com.acme</groupId>
  <artifactId>lib</artifactId>
  <version>1.1-SNAPSHOT</version>
  <versioning>
    <snapshot>
      <timestamp>20240103.000000</timestamp>
      <buildNumber>2</buildNumber>
    </snapshot>
    <lastUpdated>20240102030412</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>1.1-20240103.000000-2</value>
        <updated>20240102030410</updated>
      </snapshotVersion>
      <snapshotVersion>
        <classifier>sources</classifier>
        <extension>jar</extension>
        <value>1.1-20240103.000000-2</value>
        <updated>20240102030412</updated>
      </snapshotVersion>
      <snapshotVersion>
        <extension>pom</extension>
        <value>1.1-20240103.000000-2</value>
        <updated>20240102030411</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>
`
	if got := metadata(t, r, "com/acme/lib/1.1-SNAPSHOT"); got != want {
		t.Fatalf("snapshot metadata:\n%s\nwant:\n%s", got, want)
	}
	// Under a hosted artifact: its versions and any SNAPSHOT are hosted
	// (never asked upstream), even when there is no metadata to give.
	for dir, owned := range map[string]bool{"com/acme/lib/1.0": true, "com/acme/lib/9.9-SNAPSHOT": true, "com/acme/lib/9.9": true, "com/acme/lib/sub": false, "com/acme": false} {
		if _, ok := r.MetadataOwner(ctx, dir); ok != owned {
			t.Fatalf("MetadataOwner(%s) = %v", dir, ok)
		}
		if _, err := r.Metadata(ctx, dir); !errors.Is(err, fault.NotFound) {
			t.Fatalf("metadata of %s: %v", dir, err)
		}
	}
}

func TestConfirm(t *testing.T) {
	r := openRegistry(t, newCache(t))
	ctx := context.Background()
	sha1hex := func(s string) string { b := sha1.Sum([]byte(s)); return hex.EncodeToString(b[:]) }
	const jar = "com/acme/lib/1.0/lib-1.0.jar"
	upload(t, r, jar, "good bytes")
	if err := r.Confirm(ctx, coord(jar), "sha1", strings.ToUpper(sha1hex("good bytes"))); err != nil {
		t.Fatal(err)
	}
	// Confirmed: a contradicting checksum is refused, the file stays.
	if err := r.Confirm(ctx, coord(jar), "md5", strings.Repeat("0", 32)); !isMismatch(err) {
		t.Fatalf("wrong md5: %v", err)
	}
	if _, err := read(t, r, jar); err != nil {
		t.Fatalf("confirmed file unpublished by a bad checksum: %v", err)
	}
	s512 := sha512.Sum512([]byte("good bytes"))
	if err := r.Confirm(ctx, coord(jar), "sha512", hex.EncodeToString(s512[:])); err != nil {
		t.Fatalf("sha512: %v", err)
	}

	// Not yet confirmed: a mismatch means the bytes are not what the
	// client sent. The file is gone from reads and metadata, and the
	// client's retry with other bytes is no conflict.
	const pom = "com/acme/lib/1.1/lib-1.1.pom"
	upload(t, r, pom, "corrupted in transit")
	if err := r.Confirm(ctx, coord(pom), "sha1", sha1hex("<project/>")); !isMismatch(err) {
		t.Fatalf("wrong sha1: %v", err)
	}
	if _, err := read(t, r, pom); !errors.Is(err, fault.NotFound) {
		t.Fatalf("failed file served: %v", err)
	}
	if m := metadata(t, r, "com/acme/lib"); strings.Contains(m, "1.1") {
		t.Fatalf("failed version listed:\n%s", m)
	}
	if err := r.Confirm(ctx, coord(pom), "sha1", sha1hex("corrupted in transit")); !errors.Is(err, fault.NotFound) {
		t.Fatalf("checksum of a failed file: %v", err)
	}
	if !upload(t, r, pom, "<project/>") {
		t.Fatal("retry after a failed checksum not created")
	}
	if err := r.Confirm(ctx, coord(pom), "sha1", sha1hex("<project/>")); err != nil {
		t.Fatal(err)
	}
	if m := metadata(t, r, "com/acme/lib"); !strings.Contains(m, "<version>1.1</version>") {
		t.Fatalf("retried version not listed:\n%s", m)
	}
	if err := r.Confirm(ctx, coord("com/acme/lib/1.0/lib-1.0.pom"), "sha1", sha1hex("x")); !errors.Is(err, fault.NotFound) {
		t.Fatalf("checksum before its file: %v", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestUploadLeavesNothingOnFailure(t *testing.T) {
	c := newCache(t)
	r := openRegistry(t, c)
	big := bytes.Repeat([]byte("x"), 1000)
	f := func(body io.Reader, length, max int64, want fault.Kind, text string) {
		t.Helper()
		_, err := r.Upload(context.Background(), coord("com/acme/lib/1.0/lib-1.0.jar"), body, length, max, "ci")
		if !errors.Is(err, want) || !strings.Contains(fault.Message(err), text) {
			t.Fatalf("got %v, want %v with %q", err, want, text)
		}
		if r.Hosted("com/acme/lib") {
			t.Fatal("a failed upload made the artifact hosted")
		}
		if left, _ := os.ReadDir(c.TempDir()); len(left) != 0 {
			t.Fatalf("temp files left: %v", left)
		}
	}
	f(bytes.NewReader(big), 1000, 999, fault.TooLarge, "1000 bytes declared")                       // declared
	f(bytes.NewReader(big), -1, 999, fault.TooLarge, "more than 999")                               // chunked
	f(bytes.NewReader(big[:500]), 1000, 1<<20, fault.Invalid, "ended early: got 500 of 1000")       // short
	f(&failingReader{big, io.ErrUnexpectedEOF}, -1, 1<<20, fault.Invalid, "ended early after 1000") // broke off
	if !upload(t, r, "com/acme/lib/1.0/lib-1.0.jar", "x") {
		t.Fatal("upload after failures not created")
	}
	if _, err := r.Upload(context.Background(), coord("com/acme/lib/1.0/lib-1.0.jar"), strings.NewReader("y"), 1, 10, "ci"); !errors.Is(err, fault.Conflict) {
		t.Fatal(err)
	}
	_, err := r.Upload(context.Background(), Coord{"com/acme", "lib", "1.0-SNAPSHOT", "lib-1.0-SNAPSHOT.jar"}, strings.NewReader("x"), 1, 10, "ci")
	if !errors.Is(err, fault.Invalid) {
		t.Fatalf("non-unique snapshot: %v", err)
	}
}

func TestConcurrentDeploysKeepEveryVersion(t *testing.T) {
	r := openRegistry(t, newCache(t))
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// Readers race the writers: a reader must never cache a document
	// older than the last one written.
	for range 4 {
		wg.Go(func() {
			for range 50 {
				r.Metadata(context.Background(), "com/acme/lib")
			}
		})
	}
	for i := range n {
		wg.Go(func() {
			v := fmt.Sprintf("1.%d", i)
			_, err := r.Upload(context.Background(), coord("com/acme/lib/"+v+"/lib-"+v+".jar"), strings.NewReader(v), -1, 100, "ci")
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
	m := metadata(t, r, "com/acme/lib")
	if got := strings.Count(m, "<version>"); got != n {
		t.Fatalf("%d versions listed, want %d:\n%s", got, n, m)
	}
}

func TestReopenAndReferenced(t *testing.T) {
	c := newCache(t)
	r := openRegistry(t, c)
	upload(t, r, "com/acme/lib/1.0/lib-1.0.jar", "a")
	upload(t, r, "com/acme/lib/1.0/lib-1.0.pom", "b")
	upload(t, r, "org/x/y/2/y-2.jar", "a") // same bytes: one blob
	upload(t, r, "org/x/y/2/y-2.pom", "bad")
	if err := r.Confirm(context.Background(), coord("org/x/y/2/y-2.pom"), "md5", strings.Repeat("1", 32)); !isMismatch(err) {
		t.Fatal(err)
	}

	r2 := openRegistry(t, c) // a restart
	if !r2.Hosted("com/acme/lib") || !r2.Hosted("org/x/y") {
		t.Fatal("hosted directories lost on reopen")
	}
	if got, err := read(t, r2, "org/x/y/2/y-2.jar"); err != nil || got != "a" {
		t.Fatalf("after reopen: %q %v", got, err)
	}
	var refs []digest.Digest
	if err := r2.Referenced(func(d digest.Digest) error { refs = append(refs, d); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(refs)
	want := []digest.Digest{digest.FromString("a"), digest.FromString("a"), digest.FromString("b")}
	slices.Sort(want)
	if !slices.Equal(refs, want) {
		t.Fatalf("referenced %v, want %v (the failed file's blob is not)", refs, want)
	}
}

func TestPluginGroupMetadata(t *testing.T) {
	r := openRegistry(t, newCache(t))
	ctx := context.Background()
	upload(t, r, "com/acme/plugins/acme-maven-plugin/1.0/acme-maven-plugin-1.0.jar", "plugin")
	group := `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://maven.apache.org/METADATA/1.1.0">
  <plugins>
    <plugin><name>Acme Plugin</name><prefix>acme</prefix><artifactId>acme-maven-plugin</artifactId></plugin>
    <plugin><name>Not ours</name><prefix>other</prefix><artifactId>other-maven-plugin</artifactId></plugin>
  </plugins>
</metadata>`
	if err := r.PutMetadata(ctx, "com/acme/plugins", []byte(group)); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>com.acme.plugins</groupId>
  <plugins>
    <plugin>
      <name>Acme Plugin</name>
      <prefix>acme</prefix>
      <artifactId>acme-maven-plugin</artifactId>
    </plugin>
  </plugins>
</metadata>
`
	if got := metadata(t, r, "com/acme/plugins"); got != want {
		t.Fatalf("group metadata:\n%s\nwant:\n%s", got, want)
	}
	// An artifact's metadata is checked to name its directory, then dropped.
	f := func(dir, body string, want error) {
		t.Helper()
		if err := r.PutMetadata(ctx, dir, []byte(body)); !errors.Is(err, want) {
			t.Fatalf("PutMetadata(%s, %q) = %v, want %v", dir, body, err, want)
		}
	}
	f("com/acme/lib", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning><versions><version>9.9</version></versions></versioning></metadata>`, nil)
	f("com/acme/lib/1.0-SNAPSHOT", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0-SNAPSHOT</version></metadata>`, nil)
	f("com/acme/lib", `<metadata><groupId>com.evil</groupId><artifactId>lib</artifactId></metadata>`, fault.Invalid)
	f("com/acme/lib", `<metadata><artifactId>other</artifactId></metadata>`, fault.Invalid)
	f("com/acme/lib", `<project/>`, fault.Invalid)
	if r.Hosted("com/acme/lib") {
		t.Fatal("metadata alone made an artifact hosted")
	}
}

// isMismatch reports whether err is Confirm's refusal of a checksum.
func isMismatch(err error) bool {
	return errors.Is(err, fault.Invalid) && strings.Contains(fault.Message(err), "checksum does not match")
}
