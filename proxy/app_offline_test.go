package proxy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy/admin"
	"nora/proxy/npm/npmtest"
	"nora/proxy/offline"
	"nora/proxy/proxytest"
)

const offlineList = `app:v1
library/multi:v1   # every platform
left-pad@^1.0.0
@acme/util
demo-pkg==1.0
org.example:lib:1.0
org.example:parent:2.0
cargo:tiny@0.1.0
`

// TestExportImportOffline exports images from a nora with upstreams,
// then imports the tar into an empty nora whose upstreams are gone:
// crane pulls every image by the same names, with the same digests. A
// tar with one flipped byte, or cut short, is refused naming the member,
// and nothing of it is served.
func TestExportImportOffline(t *testing.T) {
	u := startPrefetchUpstreams(t)
	hub := proxytest.Start(t, u.config())
	want := map[string]string{}
	for _, ref := range []string{"app:v1", "multi:v1"} {
		want[ref] = mustCrane(t, "digest", hub.Addr+"/"+ref)
	}
	site := filepath.Join(t.TempDir(), "site.tar")
	exportTo(t, hub, offlineList, "", site)
	checkLayout(t, site)
	u.stop()

	edgeCfg := u.config() // upstreams unreachable
	edgeCfg.GC.Grace = units.Duration(time.Nanosecond)
	edge := proxytest.Start(t, edgeCfg)
	tarBytes, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	name, start, size := largestBlob(t, tarBytes)
	flipped := bytes.Clone(tarBytes)
	flipped[start+size/2] ^= 0x01
	refuseImport(t, edge, flipped, name, "damaged")
	refuseImport(t, edge, tarBytes[:start+size/2], name, "truncated")
	refuseImport(t, edge, tarBytes[:len(tarBytes)-2048], offline.ManifestName, "")
	// One flipped byte anywhere: in a header, a member, a padding or the
	// end of the archive.
	for off := 0; off < len(tarBytes); off += 997 {
		b := bytes.Clone(tarBytes)
		b[off] ^= 0x10
		if _, err := admin.NewClient(edge.AdminSocket).Import(context.Background(), bytes.NewReader(b)); err == nil {
			t.Fatalf("a tar with byte %d of %d flipped was imported", off, len(tarBytes))
		}
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(name, "blobs/sha256/"))
	if edge.Stored(cache.BlobKey(d)) || len(objects(t, edge)) > 0 {
		t.Fatalf("refused imports left %v in the store", objects(t, edge))
	}
	if _, err := crane(t, "digest", edge.Addr+"/app:v1"); err == nil {
		t.Fatal("app:v1 is served after refused imports")
	}
	edge.WaitNoTempFiles(t, 5*time.Second)

	sum, err := admin.NewClient(edge.AdminSocket).Import(context.Background(), bytes.NewReader(tarBytes))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(sum.Images) != 2 || len(sum.Packages) < 13 || sum.Blobs == 0 || sum.Bytes == 0 || len(objects(t, edge)) < sum.Blobs {
		t.Fatalf("import summary %+v", sum)
	}
	// Imported content is cached, not hosted: GC, which removes hosted
	// blobs nothing refers to, leaves it.
	runGC(t, edge)
	for ref, d := range want {
		if got := mustCrane(t, "digest", edge.Addr+"/"+ref); got != d {
			t.Errorf("%s: digest %s offline, %s online", ref, got, d)
		}
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", edge.Addr+"/app:v1", out)
	mustCrane(t, "pull", "--platform", "linux/arm64", edge.Addr+"/multi:v1", out)
	mustCrane(t, "pull", "--platform", "linux/amd64", edge.Addr+"/library/multi:v1", out)
	npmInstall(t, edge, "left-pad@^1.0.0", "@acme/util")
	dest := t.TempDir()
	for _, binary := range []string{":none:", ":all:"} { // the wheel, then the sdist
		if out, err := pip(t, "download", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
			"--no-build-isolation", "--no-binary", binary, "--no-deps", "--index-url", edge.URL+"/simple/", "-d", dest, "demo-pkg==1.0"); err != nil {
			t.Fatalf("pip download (--no-binary %s): %v\n%s", binary, err, out)
		}
	}
	mustGet(t, edge.URL+"/maven2/org/example/lib/1.0/lib-1.0.jar", u.jar)
	mustGet(t, edge.URL+"/maven2/org/example/lib/1.0/lib-1.0.jar.sha1", nil)
	mustGet(t, edge.URL+"/maven2/org/example/parent/2.0/parent-2.0.pom", nil)
	mustGet(t, edge.URL+"/cargo/index/ti/ny/tiny", nil)
	mustGet(t, edge.URL+"/cargo/api/v1/crates/tiny/0.1.0/download", u.crate)
	edge.WaitNoTempFiles(t, 5*time.Second)
}

// runGC runs a GC on n and waits for its end.
func runGC(t *testing.T, n *proxytest.Nora) {
	t.Helper()
	c := admin.NewClient(n.AdminSocket)
	if _, err := c.Start(context.Background(), "gc", false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := c.Job(context.Background(), "gc")
		if err != nil || st.State == admin.Failed || time.Now().After(deadline) {
			t.Fatalf("gc: %v %+v", err, st)
		}
		if st.State == admin.Done {
			return
		}
	}
}

// npmInstall installs pkgs with the real npm from n.
func npmInstall(t *testing.T, n *proxytest.Nora, pkgs ...string) {
	t.Helper()
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	os.WriteFile(rc, []byte("registry="+n.URL+"/npm/\n"), 0o600)
	proj := t.TempDir()
	os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o600)
	for _, pkg := range pkgs {
		if out, err := npmtest.NPM(t, proj, home, "install", pkg, "--userconfig", rc, "--cache", filepath.Join(home, "cache"),
			"--no-audit", "--no-fund", "--fetch-retries", "0"); err != nil {
			t.Fatalf("npm install %s: %v\n%s", pkg, err, out)
		}
	}
}

// objects lists the store's objects but the registry token key, which
// every nora keeps from its start.
func objects(t *testing.T, n *proxytest.Nora) []string {
	var keys []string
	root := filepath.Join(n.DataDir, "objects")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if key := strings.TrimPrefix(p, root); err == nil && !d.IsDir() && key != "/state/registry-token-key" {
			keys = append(keys, key)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func exportTo(t *testing.T, n *proxytest.Nora, list, platform, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := admin.NewClient(n.AdminSocket).Export(context.Background(), []byte(list), platform, f); err != nil {
		t.Fatalf("export: %v", err)
	}
}

// checkLayout reads the tar as an OCI image layout: index.json names
// both images, MANIFEST.json is the last member and lists every other.
func checkLayout(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	var index, manifest []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		b, _ := io.ReadAll(tr)
		switch hdr.Name {
		case offline.IndexName:
			index = b
		case offline.ManifestName:
			manifest = b
		}
	}
	if names[len(names)-1] != offline.ManifestName {
		t.Fatalf("members %v: MANIFEST.json is not last", names)
	}
	var m offline.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Members) != len(names)-1 {
		t.Fatalf("MANIFEST.json lists %d of %d members: %v", len(m.Members), len(names)-1, err)
	}
	for _, ref := range []string{`"org.opencontainers.image.ref.name": "app:v1"`, `"org.opencontainers.image.ref.name": "library/multi:v1"`} {
		if !strings.Contains(string(index), ref) {
			t.Errorf("index.json has no %s:\n%s", ref, index)
		}
	}
}

// largestBlob finds the largest blob member: its name, and where its
// bytes are in the tar.
func largestBlob(t *testing.T, b []byte) (string, int, int) {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(b)}
	tr := tar.NewReader(cr)
	var name string
	var start, size int
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(hdr.Name, "blobs/") && int(hdr.Size) > size {
			name, start, size = hdr.Name, cr.n, int(hdr.Size)
		}
	}
	return name, start, size
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// refuseImport wants tar refused with a message naming member (and
// saying why, when why is not "").
func refuseImport(t *testing.T, n *proxytest.Nora, tarBytes []byte, member, why string) {
	t.Helper()
	_, err := admin.NewClient(n.AdminSocket).Import(context.Background(), bytes.NewReader(tarBytes))
	var e *admin.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, member) || !strings.Contains(e.Message, why) {
		t.Fatalf("import refused with %v, want a 400 naming %s (%s)", err, member, why)
	}
	t.Logf("refused: %s", e.Message)
}

// TestExportPlatformAndDigest exports one platform of an index and an
// image by digest: offline, that platform and that digest pull, the
// platform left out does not.
func TestExportPlatformAndDigest(t *testing.T) {
	u := startPrefetchUpstreams(t)
	hub := proxytest.Start(t, u.config())
	appDigest := mustCrane(t, "digest", hub.Addr+"/app:v1")
	site := filepath.Join(t.TempDir(), "site.tar")
	exportTo(t, hub, "multi:v1\napp@"+appDigest+"\n", "linux/arm64", site)
	u.stop()

	edge := proxytest.Start(t, u.config())
	f, err := os.Open(site)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := admin.NewClient(edge.AdminSocket).Import(context.Background(), f)
	if err != nil || len(sum.Images) != 2 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	mustCrane(t, "pull", "--platform", "linux/arm64", edge.Addr+"/multi:v1", out)
	mustCrane(t, "pull", edge.Addr+"/app@"+appDigest, out)
	if _, err := crane(t, "pull", "--platform", "linux/amd64", edge.Addr+"/multi:v1", out); err == nil {
		t.Fatal("linux/amd64 of multi:v1 pulled offline, but was not exported")
	}
	if _, err := crane(t, "digest", edge.Addr+"/app:v1"); err == nil {
		t.Fatal("app:v1 is served offline, but only its digest was exported")
	}
	// The normal listener's admin API would hold a tar whole in memory.
	for _, p := range []string{"/api/v1/export", "/api/v1/import"} {
		resp, err := http.Post(edge.URL+p, "text/plain", strings.NewReader("app:v1\n"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "admin socket only") {
			t.Errorf("POST %s on the listener: %d %s", p, resp.StatusCode, b)
		}
	}
}
