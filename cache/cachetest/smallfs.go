package cachetest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallFS mounts a tmpfs of size ("8m", "64k": mount's size= syntax) on a
// new directory and returns it; it is unmounted when the test ends. The
// tests that need a full disk use it: a real filesystem that answers
// ENOSPC, not a fake. Mounting needs root, which CI has: a failure is fatal,
// never a skip that would hide a test that does not run.
func SmallFS(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0750"); err != nil {
		t.Fatalf("cannot mount a %s tmpfs on %s (the full-disk tests need root): %v", size, dir, err)
	}
	unmountAtEnd(t, dir)
	return dir
}

// unmountAtEnd unmounts dir when t ends. Registered after TempDir's
// cleanup, it runs first: the directory is removed only once nothing is
// mounted on it.
func unmountAtEnd(t testing.TB, dir string) {
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Busy: a server of the test may still hold a file open.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("cannot unmount %s: %v", dir, err)
			}
		}
	})
}

// Fill writes a file into the filesystem of dir until at most leave bytes
// are free, and returns its path: removing it frees the space again.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		free := Free(t, dir)
		if free <= leave {
			return path
		}
		n := min(int64(len(buf)), free-leave)
		if _, err := f.Write(buf[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("cannot fill %s: %v", dir, err)
		}
	}
}

// Free is the space left for writes in the filesystem of dir.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
