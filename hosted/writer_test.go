package hosted

import (
	"errors"
	"io"
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
