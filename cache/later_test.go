package cache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
)

// TestPutLater: a document handed to PutLater is answered from memory at
// once (its ref, its blob's Stat and Open), reaches the store in the
// background, and a key's writes land in the order they were asked.
func TestPutLater(t *testing.T) {
	c, store := cachetest.OpenStore(t, t.TempDir())
	ctx := context.Background()
	const key = "refs/npm/left-pad/_abbreviated"
	var last cache.Ref
	for i := range 20 {
		body := []byte(fmt.Sprintf(`{"name":"left-pad","rev":%d}`, i))
		last = cache.Ref{Digest: digest.FromBytes(body), Size: int64(len(body)), MediaType: "application/json"}
		if !c.PutLater(key, last, body) {
			t.Fatalf("PutLater %d declined under its bounds", i)
		}
		got, err := c.Ref(ctx, key)
		if err != nil || got.Digest != last.Digest {
			t.Fatalf("ref right after PutLater %d: %v %v, want %s", i, got.Digest, err, last.Digest)
		}
		if info, err := c.Stat(ctx, cache.BlobKey(last.Digest)); err != nil || info.Size != int64(len(body)) {
			t.Fatalf("stat of a waiting blob: %+v %v", info, err)
		}
		obj, err := c.Open(ctx, cache.BlobKey(last.Digest))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != string(body) {
			t.Fatalf("open of a waiting blob: %q", b)
		}
	}
	c.WaitLater()
	// The store itself, not the cache's memory: the newest ref won.
	r, _, err := store.Get(ctx, key, 0)
	if err != nil {
		t.Fatalf("ref not stored: %v", err)
	}
	raw, _ := io.ReadAll(r)
	r.Close()
	if want := last.Digest.String(); !strings.Contains(string(raw), want) {
		t.Fatalf("stored ref %s, want the last one %s", raw, want)
	}
	if _, err := store.Stat(ctx, cache.BlobKey(last.Digest)); err != nil {
		t.Fatalf("blob not stored: %v", err)
	}
	// A digest that does not name the body is never taken.
	if c.PutLater(key, cache.Ref{Digest: "sha256:nope"}, []byte("x")) {
		t.Fatal("PutLater took an invalid digest")
	}
}

// TestPutLaterBounded: past its bounds PutLater declines (the caller then
// stores at the store's pace) instead of holding more in memory.
func TestPutLaterBounded(t *testing.T) {
	c := cachetest.Open(t, t.TempDir())
	// The writes wait for a pause in the lookups that does not come: the
	// bound is met, not outrun by the store.
	c.SetLull(time.Hour, time.Hour)
	if _, err := c.Ref(context.Background(), "refs/pypi/none/simple"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20)
	took := 0
	for i := range 20 {
		big[0] = byte(i)
		if c.PutLater(fmt.Sprintf("refs/pypi/p%d/simple", i), cache.Ref{Digest: digest.FromBytes(big)}, append([]byte(nil), big...)) {
			took++
		}
	}
	if took*len(big) > 8<<20 || took == 0 {
		t.Fatalf("PutLater held %d documents of 3 MiB in memory, want at most 8 MiB and at least one", took)
	}
	c.WaitLater()
}
