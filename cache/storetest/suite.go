// Package storetest is the test suite every cache.Store adapter must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"nora/cache"
)

// Run runs the suite against a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s cache.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"BadKeys", testBadKeys},
		{"FailedPutLeavesNothing", testFailedPutLeavesNothing},
		{"List", testList},
		{"ConcurrentPutsSameKey", testConcurrentPutsSameKey},
		{"Adopt", testAdopt},
		{"Swap", testSwap},
		{"SwapRace", testSwapRace},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var ctx = context.Background()

// testPutGetStat: a Put object has its size and reads back from an offset.
func testPutGetStat(t *testing.T, s cache.Store) {
	if err := s.Put(ctx, "blobs/sha256/ab/abcd", strings.NewReader("hello world")); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "blobs/sha256/ab/abcd")
	if err != nil || info.Size != 11 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	b, info := read(t, s, "blobs/sha256/ab/abcd", 6)
	if string(b) != "world" || info.Size != 11 {
		t.Fatalf("Get at 6 = %q (size %d)", b, info.Size)
	}
}

// testMissing: a key without an object is ErrNotFound for Stat, Get and Delete.
func testMissing(t *testing.T, s cache.Store) {
	if _, err := s.Stat(ctx, "refs/none"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Stat missing = %v", err)
	}
	if _, _, err := s.Get(ctx, "refs/none", 0); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get missing = %v", err)
	}
	if err := s.Delete(ctx, "refs/none"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Delete missing = %v", err)
	}
}

// testOverwrite: a second Put replaces the object.
func testOverwrite(t *testing.T, s cache.Store) {
	for _, v := range []string{"one", "second"} {
		if err := s.Put(ctx, "refs/x/tag", strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := read(t, s, "refs/x/tag", 0)
	if string(b) != "second" {
		t.Fatalf("got %q", b)
	}
}

// testDelete: a deleted object is gone.
func testDelete(t *testing.T, s cache.Store) {
	s.Put(ctx, "a/b", strings.NewReader("x"))
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// testBadKeys: keys that could leave the root are refused, never ErrNotFound.
func testBadKeys(t *testing.T, s cache.Store) {
	for _, k := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "a/"} {
		if err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
		if _, err := s.Stat(ctx, k); err == nil || errors.Is(err, cache.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want a key error", k, err)
		}
	}
}

// testFailedPutLeavesNothing: a Put whose reader fails leaves no object.
func testFailedPutLeavesNothing(t *testing.T, s cache.Store) {
	r := io.MultiReader(strings.NewReader("partial"), errReader{})
	if err := s.Put(ctx, "blobs/x", r); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if _, err := s.Stat(ctx, "blobs/x"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("partial object visible: %v", err)
	}
}

// testList: every adapter lists its objects under a prefix.
func testList(t *testing.T, s cache.Store) {
	l, ok := s.(cache.Lister)
	if !ok {
		t.Fatal("not a cache.Lister: every adapter must list its objects (nora reindex)")
	}
	want := map[string]int64{"blobs/sha256/ab/ab01": 3, "blobs/sha256/cd/cd02": 5}
	for k, n := range want {
		if err := s.Put(ctx, k, strings.NewReader(strings.Repeat("x", int(n)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "refs/other", strings.NewReader("ref")); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	if err := l.List(ctx, "blobs/", func(k string, info cache.Info) error {
		got[k] = info.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || got["blobs/sha256/ab/ab01"] != 3 || got["blobs/sha256/cd/cd02"] != 5 {
		t.Fatalf("List(blobs/) = %v, want %v", got, want)
	}
	if err := l.List(ctx, "nothing/", func(string, cache.Info) error { t.Error("listed a key of an empty prefix"); return nil }); err != nil {
		t.Fatalf("List of an empty prefix: %v", err)
	}
}

// testConcurrentPutsSameKey: concurrent Puts of one key leave one whole object.
func testConcurrentPutsSameKey(t *testing.T, s cache.Store) {
	want := bytes.Repeat([]byte("z"), 1<<20)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(ctx, "blobs/same", bytes.NewReader(want)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := read(t, s, "blobs/same", 0)
	if !bytes.Equal(got, want) {
		t.Fatal("object corrupted by concurrent puts")
	}
}

// testAdopt: a store that adopts temp files takes an open one whole, and
// removes it when it cannot.
func testAdopt(t *testing.T, s cache.Store) {
	a, ok := s.(cache.FileAdopter)
	if !ok {
		return // the cache copies files in with Put, tested above
	}
	adopt := func(key string) (string, error) {
		f, err := os.CreateTemp(a.TempDir(), "adopt-*")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("adopted"); err != nil {
			t.Fatal(err)
		}
		return f.Name(), a.Adopt(f, key)
	}
	tmp, err := adopt("blobs/sha256/ad/ad01")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := read(t, s, "blobs/sha256/ad/ad01", 0)
	if _, serr := os.Stat(tmp); string(b) != "adopted" || !errors.Is(serr, fs.ErrNotExist) {
		t.Fatalf("adopted %q, temp file: %v", b, serr)
	}
	tmp, err = adopt("../escape")
	if _, serr := os.Stat(tmp); err == nil || !errors.Is(serr, fs.ErrNotExist) {
		t.Fatalf("adopt under a bad key: %v, temp file: %v", err, serr)
	}
}

// read returns the bytes of the object under key from offset.
func read(t *testing.T, s cache.Store, key string, offset int64) ([]byte, cache.Info) {
	t.Helper()
	rc, info, err := s.Get(ctx, key, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// testSwap: PutIf writes only over the version read; a second writer with
// the same version loses with ErrChanged; "" means "only if absent".
func testSwap(t *testing.T, s cache.Store) {
	sw, ok := s.(cache.Swapper)
	if !ok {
		t.Fatal("not a cache.Swapper: every adapter must compare and swap (hosted state of several instances)")
	}
	const key = "hosted/npm/packages/swap"
	if _, _, err := sw.ReadVersion(ctx, key, 1<<10); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("ReadVersion missing = %v", err)
	}
	if err := sw.PutIf(ctx, key, []byte("one"), ""); err != nil {
		t.Fatalf("PutIf new: %v", err)
	}
	if err := sw.PutIf(ctx, key, []byte("again"), ""); !errors.Is(err, cache.ErrChanged) {
		t.Fatalf("PutIf new over an object = %v, want ErrChanged", err)
	}
	b, v1, err := sw.ReadVersion(ctx, key, 1<<10)
	if err != nil || string(b) != "one" || v1 == "" {
		t.Fatalf("ReadVersion = %q %q %v", b, v1, err)
	}
	if v, ok := s.(cache.Versioner); ok {
		if got, err := v.Version(ctx, key); err != nil || got != v1 {
			t.Fatalf("Version = %q %v, ReadVersion said %q", got, err, v1)
		}
	}
	// Unchanged: the same version, and no bytes or the same ones.
	if b, v, err := cache.ReadIfChanged(ctx, s, key, 1<<10, v1); err != nil || b != nil && string(b) != "one" || v != v1 {
		t.Fatalf("ReadIfChanged of an unchanged object = %q %q %v", b, v, err)
	}
	if err := sw.PutIf(ctx, key, []byte("two"), v1); err != nil {
		t.Fatalf("PutIf at the version read: %v", err)
	}
	if err := sw.PutIf(ctx, key, []byte("lost"), v1); !errors.Is(err, cache.ErrChanged) {
		t.Fatalf("PutIf at an old version = %v, want ErrChanged", err)
	}
	b, v2, err := sw.ReadVersion(ctx, key, 1<<10)
	if err != nil || string(b) != "two" || v2 == v1 {
		t.Fatalf("after the swap: %q %q (was %q) %v", b, v2, v1, err)
	}
	if _, _, err := sw.ReadVersion(ctx, key, 2); err == nil {
		t.Fatal("ReadVersion past max: no error")
	}
}

// testSwapRace: writers that each add one line through read-and-swap lose
// no line.
func testSwapRace(t *testing.T, s cache.Store) {
	sw := s.(cache.Swapper)
	const key, writers = "hosted/race", 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				old, v, err := sw.ReadVersion(ctx, key, 1<<10)
				if err != nil && !errors.Is(err, cache.ErrNotFound) {
					t.Error(err)
					return
				}
				err = sw.PutIf(ctx, key, append(old, byte('a'+i)), v)
				if err == nil {
					return
				}
				if !errors.Is(err, cache.ErrChanged) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b, _, err := sw.ReadVersion(ctx, key, 1<<10)
	if err != nil || len(b) != writers {
		t.Fatalf("after %d racing writers: %q, %v", writers, b, err)
	}
}
