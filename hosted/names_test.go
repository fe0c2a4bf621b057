package hosted

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
)

const testKey = "hosted/test/names"

func newStore(t *testing.T) cache.Store {
	t.Helper()
	s, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stored(t *testing.T, s cache.Store) string {
	t.Helper()
	rc, _, err := s.Get(context.Background(), testKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadNames(t *testing.T) {
	f := func(field, body string, want ...string) {
		t.Helper()
		s := newStore(t)
		if body != "" {
			if err := s.Put(context.Background(), testKey, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := LoadNames(context.Background(), s, testKey, field, 64)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if got := n.List(); !slices.Equal(got, append([]string{}, want...)) {
			t.Fatalf("%q: got %q, want %q", body, got, want)
		}
	}
	f("", "")
	f("dirs", "")
	f("", `[]`)
	f("", `["b","a"]`, "a", "b")
	f("projects", `{"projects":["x","a"]}`, "a", "x")
	f("projects", `{"projects":null}`)
	f("projects", `{}`)
}

func TestLoadNamesError(t *testing.T) {
	f := func(field, body, want string) {
		t.Helper()
		s := newStore(t)
		if err := s.Put(context.Background(), testKey, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		_, err := LoadNames(context.Background(), s, testKey, field, 16)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: got %v, want %q", body, err, want)
		}
	}
	f("", `{"a":1}`, "cannot decode")
	f("dirs", `["a"]`, "cannot decode")
	f("dirs", `{"dirs":"a"}`, "cannot decode")
	f("", `["aaaaaaaa","bbbbbbbb"]`, "larger than 16 bytes")
}

// TestLoadNamesOr: an object in an older shape loads through legacy, JSON
// as usual, and the first write turns the legacy object into JSON.
func TestLoadNamesOr(t *testing.T) {
	lines := func(b []byte) ([]string, error) { return strings.Fields(string(b)), nil }
	f := func(field, body string, want ...string) {
		t.Helper()
		ctx := context.Background()
		s := newStore(t)
		if err := s.Put(ctx, testKey, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		n, err := LoadNamesOr(ctx, s, testKey, field, 64, lines)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if got := n.List(); !slices.Equal(got, append([]string{}, want...)) {
			t.Fatalf("%q: got %q, want %q", body, got, want)
		}
		if err := n.Add(ctx, "z"); err != nil {
			t.Fatal(err)
		}
		again, err := LoadNames(ctx, s, testKey, field, 64)
		if err != nil {
			t.Fatalf("%q after a write: %v (stored %s)", body, err, stored(t, s))
		}
		if got := again.List(); !slices.Equal(got, append(append([]string{}, want...), "z")) {
			t.Fatalf("%q after a write: got %q", body, got)
		}
	}
	f("", "")
	f("", "b\na\n", "a", "b")
	f("", "null\n", "null") // a name that is also JSON stays a name
	f("", `["b","a"]`, "a", "b")
	f("names", "a\n", "a")
	f("names", ` {"names":["a"]}`, "a")
}

// TestNamesWrite checks the bytes each registry's format writes: they are
// what earlier versions stored and must read back.
func TestNamesWrite(t *testing.T) {
	f := func(field string, ops []string, want string) {
		t.Helper()
		ctx := context.Background()
		s := newStore(t)
		n, err := LoadNames(ctx, s, testKey, field, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if name, ok := strings.CutPrefix(op, "-"); ok {
				err = n.Remove(ctx, name)
			} else {
				err = n.Add(ctx, op)
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
		}
		if got := stored(t, s); got != want {
			t.Fatalf("%q: stored %s, want %s", ops, got, want)
		}
		again, err := LoadNames(ctx, s, testKey, field, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.List(), n.List()) {
			t.Fatalf("%q: reloaded %q, had %q", ops, again.List(), n.List())
		}
	}
	f("", []string{"b", "@acme/a", "b"}, `["@acme/a","b"]`)
	f("projects", []string{"lib", "acme-lib"}, `{"projects":["acme-lib","lib"]}`)
	f("projects", []string{"lib", "-lib"}, `{"projects":[]}`)
	f("projects", []string{"a", "b", "-a", "-zz"}, `{"projects":["b"]}`)
	f("dirs", []string{"com/acme/lib", "com/acme"}, `{"dirs":["com/acme","com/acme/lib"]}`)
}

func TestNamesHas(t *testing.T) {
	ctx := context.Background()
	n, err := LoadNames(ctx, newStore(t), testKey, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, want bool) {
		t.Helper()
		if got := n.Has(name); got != want {
			t.Fatalf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	f("lib", false)
	if err := n.Add(ctx, "lib"); err != nil {
		t.Fatal(err)
	}
	f("lib", true)
	f("Lib", false)
	if err := n.Remove(ctx, "lib"); err != nil {
		t.Fatal(err)
	}
	f("lib", false)
}

// TestNamesConcurrentAdd: concurrent adds lose no name, in memory or
// stored.
func TestNamesConcurrentAdd(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	n, err := LoadNames(ctx, s, testKey, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var wg sync.WaitGroup
	for i := range 32 {
		name := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		want = append(want, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Add(ctx, name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	slices.Sort(want)
	again, err := LoadNames(ctx, s, testKey, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.List(), want) || !slices.Equal(again.List(), want) {
		t.Fatalf("got %q, stored %q, want %q", n.List(), again.List(), want)
	}
}

func TestLocks(t *testing.T) {
	var l Locks
	unlock := l.Lock("lib")
	done := make(chan struct{})
	go func() {
		l.Lock("lib")()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a second Lock of one name did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	unlock()
	<-done
}

// TestNamesShared: a name added through one instance is hosted on the
// other at once, one removed is gone from the other's List, and writers
// on both lose no name.
func TestNamesShared(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		ctx := t.Context()
		a, err := LoadNames(ctx, sa, testKey, "projects", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b, err := LoadNames(ctx, sb, testKey, "projects", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if b.Has("lib") {
			t.Fatal("lib is hosted before it was added")
		}
		if err := a.Add(ctx, "lib"); err != nil {
			t.Fatal(err)
		}
		if !b.Has("lib") {
			t.Fatal("a name added on one instance is not hosted on the other")
		}
		if err := b.Remove(ctx, "lib"); err != nil {
			t.Fatal(err)
		}
		if got := a.List(); len(got) != 0 {
			t.Fatalf("List after a removal on the other instance = %q", got)
		}
		var want []string
		var wg sync.WaitGroup
		for i := range 8 {
			n, name := a, fmt.Sprintf("p%d", i)
			if i%2 == 1 {
				n = b
			}
			want = append(want, name)
			wg.Go(func() {
				if err := n.Add(ctx, name); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := a.List(); !slices.Equal(got, want) {
			t.Fatalf("first instance lists %q, want %q", got, want)
		}
		if got := b.List(); !slices.Equal(got, want) {
			t.Fatalf("second instance lists %q, want %q", got, want)
		}
	})
}

// BenchmarkNamesHasMiss: the cost a proxied request pays to learn that a
// name is not hosted, with 1,000 hosted names: one look at the stored set.
func BenchmarkNamesHasMiss(b *testing.B) {
	run := func(b *testing.B, s cache.Store) {
		n := storedNames(b, s, 1000, "@scope/package-%04d")
		b.ResetTimer()
		for b.Loop() {
			if n.Has("lodash") {
				b.Fatal("lodash is hosted")
			}
		}
	}
	b.Run("disk", func(b *testing.B) {
		s, err := disk.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		run(b, s)
	})
	b.Run("s3", func(b *testing.B) {
		s3test.Setenv(b)
		srv := s3test.Start(b)
		s, err := s3store.Open(b.Context(), srv.Config(srv.NewBucket(b)), s3store.Options{SpoolDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		run(b, s)
	})
}

// BenchmarkNamesAddNew: 16 writers add new names to a set of 2,000 on a
// disk store (a CI pushing to new repositories at once): each op is one
// new name stored.
func BenchmarkNamesAddNew(b *testing.B) {
	ctx := b.Context()
	s, err := disk.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	n := storedNames(b, s, 2000, "site/app-%04d")
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := n.Add(ctx, fmt.Sprintf("site/new-%06d", next.Add(1))); err != nil {
				b.Error(err)
			}
		}
	})
}

// TestNamesWriteBatch: the changes asked while a write runs are stored by
// the next one together, in the order they were asked.
func TestNamesWriteBatch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	n, err := LoadNames(ctx, s, testKey, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	n.writeMu.Lock() // a write under way
	errs := make(chan error, 3)
	ask := func(f func(context.Context, string) error, name string, want int) {
		go func() { errs <- f(ctx, name) }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			n.pendMu.Lock()
			got := len(n.pending)
			n.pendMu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d changes waiting, want %d", got, want)
			}
		}
	}
	ask(n.Add, "x", 1)
	ask(n.Add, "y", 2)
	ask(n.Remove, "x", 3)
	n.writeMu.Unlock()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := stored(t, s); got != `["y"]` {
		t.Fatalf("stored %s, want [\"y\"]", got)
	}
	if !slices.Equal(n.List(), []string{"y"}) {
		t.Fatalf("in memory %q", n.List())
	}
}

// storedNames stores count names made by format as the set and loads it.
func storedNames(b *testing.B, s cache.Store, count int, format string) *Names {
	b.Helper()
	list := make([]string, count)
	for i := range list {
		list[i] = fmt.Sprintf(format, i)
	}
	body, _ := json.Marshal(list)
	if err := s.Put(b.Context(), testKey, bytes.NewReader(body)); err != nil {
		b.Fatal(err)
	}
	n, err := LoadNames(b.Context(), s, testKey, "", 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
