package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
)

// TestWritesWaitForALull: while requests keep coming, a verified fill's
// commit and a document's write wait (the reader has its bytes, the
// document is answered from memory); whoever asks whether the object is
// stored releases them and finds it; WaitLater releases the rest; under a
// steady load they go once they waited their most.
func TestWritesWaitForALull(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(200 << 10)
	d := digest.FromBytes(data)
	blob := cache.BlobKey(d)
	doc := []byte(`{"name":"left-pad"}`)
	ref := cache.Ref{Digest: digest.FromBytes(doc), Size: int64(len(doc)), MediaType: "application/json"}
	const docKey = "refs/npm/left-pad/_abbreviated"
	notStored := func(t *testing.T, store cache.Store, key string) {
		t.Helper()
		if _, err := store.Stat(ctx, key); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("%s in the store while writes wait for a lull: %v", key, err)
		}
	}

	t.Run("held, then released by who asks", func(t *testing.T) {
		c, store := cachetest.OpenStore(t, t.TempDir())
		c.SetLull(time.Hour, time.Hour) // the requests never pause
		src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
		b, _, err := readObject(c.Fetch(ctx, blob, cache.Expect{Digest: d, Size: int64(len(data))}, src.open))
		if err != nil || len(b) != len(data) {
			t.Fatalf("fill read while its commit waits: %d bytes, %v", len(b), err)
		}
		if !c.PutLater(docKey, ref, doc) {
			t.Fatal("PutLater declined")
		}
		time.Sleep(100 * time.Millisecond)
		notStored(t, store, blob)
		notStored(t, store, docKey)
		if got, err := c.Ref(ctx, docKey); err != nil || got.Digest != ref.Digest {
			t.Fatalf("the waiting document's ref: %v %v", got.Digest, err)
		}
		// A HEAD or an export asks: the commit goes now, and is found.
		asked := time.Now()
		if info, err := c.Stat(ctx, blob); err != nil || info.Size != int64(len(data)) {
			t.Fatalf("Stat of a held commit: %+v %v", info, err)
		}
		if _, err := store.Stat(ctx, blob); err != nil {
			t.Fatalf("blob not in the store after Stat: %v", err)
		}
		c.WaitLater()
		if _, err := store.Stat(ctx, docKey); err != nil {
			t.Fatalf("document not in the store after WaitLater: %v", err)
		}
		if src.opens.Load() != 1 {
			t.Fatalf("%d upstream fetches, want 1", src.opens.Load())
		}
		// Their index entries keep when they were read, not when they
		// were committed: eviction takes the least recently read first.
		for _, key := range []string{blob, cache.BlobKey(ref.Digest)} {
			if e, ok := c.Index().Get(key); !ok || !e.LastAccess.Before(asked) {
				t.Errorf("%s: last access %v (recorded %v), want before the commit at %v", key, e.LastAccess, ok, asked)
			}
		}
	})

	t.Run("a steady load still commits", func(t *testing.T) {
		c, store := cachetest.OpenStore(t, t.TempDir())
		c.SetLull(time.Hour, 50*time.Millisecond)
		src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
		if _, _, err := readObject(c.Fetch(ctx, blob, cache.Expect{Digest: d, Size: int64(len(data))}, src.open)); err != nil {
			t.Fatal(err)
		}
		c.PutLater(docKey, ref, doc)
		for _, key := range []string{blob, docKey} {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := store.Stat(ctx, key); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never stored under a steady load", key)
				}
			}
		}
	})
}
