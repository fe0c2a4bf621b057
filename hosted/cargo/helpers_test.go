package cargo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
)

// makeCrate builds a .crate: a gzip'd tar of files below root/.
func makeCrate(t testing.TB, root string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		body := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: root + "/" + n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// crateOf is a minimal .crate of name vers.
func crateOf(t testing.TB, name, vers string) []byte {
	return makeCrate(t, name+"-"+vers, map[string]string{
		"Cargo.toml": "[package]\nname = \"" + name + "\"\nversion = \"" + vers + "\"\n",
		"src/lib.rs": "pub fn f() -> &'static str { \"" + name + " " + vers + "\" }\n",
	})
}

// metaOf is publish metadata for name vers as cargo sends it, with deps
// (JSON objects) and features (a JSON object) spliced in.
func metaOf(name, vers, deps, features string) []byte {
	if deps == "" {
		deps = "[]"
	}
	if features == "" {
		features = "{}"
	}
	return []byte(`{"name":"` + name + `","vers":"` + vers + `","deps":` + deps + `,"features":` + features +
		`,"authors":[],"description":"test","documentation":null,"homepage":null,"readme":null,"readme_file":null,` +
		`"keywords":[],"categories":[],"license":"MIT","license_file":null,"repository":null,"badges":{},"links":null,"rust_version":null}`)
}

// frame is a publish body: both parts with their u32 LE lengths.
func frame(meta, crate []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
	b = append(b, meta...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(crate)))
	return append(b, crate...)
}

type testRegistry struct {
	*Registry
	c     *cache.Cache
	store cache.Store
	dir   string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	c := cachetest.Open(t, dir)
	store, err := disk.Open(dir) // the state's port onto the cache's directory
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), store, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{r, c, store, dir}
}

// publish sends a publish body through ReadRequest and Publish.
func (r *testRegistry) publish(body []byte) (IndexEntry, error) {
	q, err := ReadRequest(bytes.NewReader(body), int64(len(body)), 1<<20)
	if err != nil {
		return IndexEntry{}, err
	}
	return r.Publish(context.Background(), q)
}

// files lists what the store holds below prefix, and what is left in the
// temp dir.
func (r *testRegistry) files(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, root := range []string{filepath.Join(r.dir, "objects", filepath.FromSlash(prefix)), r.c.TempDir()} {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
