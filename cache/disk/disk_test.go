package disk_test

import (
	"os"
	"path/filepath"
	"testing"

	"nora/cache"
	"nora/cache/disk"
	"nora/cache/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store {
		s, err := disk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenClearsTempFiles(t *testing.T) {
	root := t.TempDir()
	if _, err := disk.Open(root); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(root, "tmp", "fill-123")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("temp file of a dead process survived reopen: %v", err)
	}
}
