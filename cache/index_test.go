package cache_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"nora/cache"
)

// A read of an object between its commit's rename and its index entry
// (a fill's commit goes on behind its readers) is older than the entry:
// it never makes the object look less recently used than its commit.
func TestTouchBeforeAddedNeverAgesTheEntry(t *testing.T) {
	ix, _, err := cache.OpenIndex(filepath.Join(t.TempDir(), "index.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	const key = "blobs/sha256/aa/aa"
	ix.Touch(key)
	time.Sleep(10 * time.Millisecond)
	ix.Added(key, 1, false)
	added, ok := ix.Get(key)
	if !ok {
		t.Fatal("no entry")
	}
	if added.LastAccess.Before(added.Added) {
		t.Fatalf("last access %v before the entry was added %v (pending touch)", added.LastAccess, added.Added)
	}
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}
	e, _ := ix.Get(key)
	if e.LastAccess.Before(e.Added) {
		t.Fatalf("last access %v before the entry was added %v (flushed touch)", e.LastAccess, e.Added)
	}
	ix.Touch(key)
	if e2, _ := ix.Get(key); !e2.LastAccess.After(e.LastAccess) {
		t.Fatalf("a later touch did not move the last access: %v", e2.LastAccess)
	}
}
