package proxytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/cache/cachetest"
)

// Disk is a small real filesystem for a test nora's storage, which a test
// fills up and frees again.
type Disk struct {
	Root   string // the mount point
	Path   string // the storage path to give nora, below Root
	filler string
}

// NewDisk mounts a filesystem of size (cachetest.SmallFS) for a storage
// path.
func NewDisk(t testing.TB, size string) *Disk {
	t.Helper()
	root := cachetest.SmallFS(t, size)
	return &Disk{Root: root, Path: filepath.Join(root, "data")}
}

// Fill leaves at most leave bytes free, with a filler file outside the
// storage path.
func (d *Disk) Fill(t testing.TB, leave int64) {
	t.Helper()
	d.filler = cachetest.Fill(t, d.Root, leave)
}

// Free removes the filler.
func (d *Disk) Free(t testing.TB) {
	t.Helper()
	if err := os.Remove(d.filler); err != nil {
		t.Fatal(err)
	}
}

// CheckNoPath fails the test if body, a response to the client, shows a
// path of the store or the file system's own words: those go to the log.
func (n *Nora) CheckNoPath(t testing.TB, what string, body []byte) {
	t.Helper()
	s := string(body)
	if strings.Contains(s, n.DataDir) || strings.Contains(s, "no space left") {
		t.Fatalf("%s: the answer shows a path or an OS error: %s", what, body)
	}
}
