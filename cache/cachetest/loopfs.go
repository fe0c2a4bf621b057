package cachetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LoopExt4 makes a fresh ext4 filesystem of size ("2G": mkfs's syntax),
// with mkfs's defaults (a journal, as on a Pi's card or a server's disk),
// in a sparse file, mounts it through a loop device on a new directory and
// returns that directory; it is unmounted when the test ends. Benchmarks
// that compare how two servers use a disk run both on one, so neither
// inherits the state of this machine's filesystem. Needs root and loop
// devices, as SmallFS needs root: a failure is fatal.
func LoopExt4(t testing.TB, size string) string {
	t.Helper()
	base := t.TempDir()
	img, dir := filepath.Join(base, "ext4.img"), filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("truncate", "-s", size, img).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	// Tables initialised now, not by a kernel thread writing behind the
	// benchmark's back for its first minutes.
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("cannot mount %s (needs root and a loop device): %v %s", img, err, out)
	}
	unmountAtEnd(t, dir)
	return dir
}
