package oci

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A temp file that fails is the store's fault, not a body that ended early:
// the edge must not answer it as the client's.
func TestWriteStoreFailureIsNotTruncation(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "upload"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // every write now fails
	u := &Upload{file: f, sha: sha256.New()}
	_, err = u.Write(strings.NewReader("layer"), -1, 5)
	var pe *fs.PathError
	if err == nil || errors.Is(err, ErrTruncated) || !errors.As(err, &pe) {
		t.Fatalf("Write to a failing file: %v, want the file's error and not ErrTruncated", err)
	}
}
