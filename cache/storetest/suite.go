// Package storetest is the test suite every cache.Store adapter must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"nora/cache"
)

// Run runs the suite against a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	ctx := context.Background()
	t.Run("PutGetStat", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, "blobs/sha256/ab/abcd", strings.NewReader("hello world")); err != nil {
			t.Fatal(err)
		}
		info, err := s.Stat(ctx, "blobs/sha256/ab/abcd")
		if err != nil || info.Size != 11 {
			t.Fatalf("Stat = %+v, %v", info, err)
		}
		rc, info, err := s.Get(ctx, "blobs/sha256/ab/abcd", 6)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "world" || info.Size != 11 {
			t.Fatalf("Get at 6 = %q (size %d)", b, info.Size)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Stat(ctx, "refs/none"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Stat missing = %v", err)
		}
		if _, _, err := s.Get(ctx, "refs/none", 0); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Get missing = %v", err)
		}
		if err := s.Delete(ctx, "refs/none"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Delete missing = %v", err)
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		for _, v := range []string{"one", "second"} {
			if err := s.Put(ctx, "refs/x/tag", strings.NewReader(v)); err != nil {
				t.Fatal(err)
			}
		}
		rc, _, err := s.Get(ctx, "refs/x/tag", 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "second" {
			t.Fatalf("got %q", b)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		s.Put(ctx, "a/b", strings.NewReader("x"))
		if err := s.Delete(ctx, "a/b"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
	t.Run("BadKeys", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "a/"} {
			if err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
				t.Errorf("Put(%q) accepted", k)
			}
			if _, err := s.Stat(ctx, k); err == nil || errors.Is(err, cache.ErrNotFound) {
				t.Errorf("Stat(%q) = %v, want a key error", k, err)
			}
		}
	})
	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		r := io.MultiReader(strings.NewReader("partial"), errReader{})
		if err := s.Put(ctx, "blobs/x", r); err == nil {
			t.Fatal("Put of a failing reader succeeded")
		}
		if _, err := s.Stat(ctx, "blobs/x"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("partial object visible: %v", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		s := newStore(t)
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
	})
	t.Run("ConcurrentPutsSameKey", func(t *testing.T) {
		s := newStore(t)
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
		rc, _, err := s.Get(ctx, "blobs/same", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			t.Fatal("object corrupted by concurrent puts")
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
