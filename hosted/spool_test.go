package hosted

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestErrWriter(t *testing.T) {
	w := &ErrWriter{W: &failAfter{3}}
	if _, err := io.Copy(w, strings.NewReader("abcdef")); !errors.Is(err, errDiskFull) || !errors.Is(w.Err, errDiskFull) {
		t.Fatalf("copy: %v, writer's error %v", err, w.Err)
	}
	w = &ErrWriter{W: io.Discard}
	if _, err := io.Copy(w, io.MultiReader(strings.NewReader("ab"), errReader{})); err == nil || w.Err != nil {
		t.Fatalf("a failing source: copy %v, writer's error %v", err, w.Err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestSpooled(t *testing.T) {
	dir := t.TempDir()
	f := func(take bool) {
		t.Helper()
		p := filepath.Join(dir, "upload")
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := Spooled(p)
		if take && s.Take() != p {
			t.Fatal("Take lost the path")
		}
		s.Discard()
		s.Discard() // twice is harmless
		if _, err := os.Stat(p); take == errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("taken %v: after Discard, stat %v", take, err)
		}
	}
	f(false)
	f(true)
}
