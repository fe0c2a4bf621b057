package cache_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
)

// heldStore is a disk store whose commits (Adopt) wait for release and
// then fail with fail, if set.
type heldStore struct {
	*disk.Store
	release chan struct{}
	fail    error
}

func (s *heldStore) Adopt(tmp *os.File, key string) error {
	<-s.release
	if s.fail != nil {
		os.Remove(tmp.Name())
		return s.fail
	}
	return s.Store.Adopt(tmp, key)
}

// A fill's readers end with its verified bytes while its commit is still
// held; whoever asks for the object meanwhile (Stat, Open, OpenNamed,
// another Fetch) waits for the commit and finds the object, or, when the
// commit fails, finds nothing.
func TestReadersEndBeforeCommit(t *testing.T) {
	f := func(name string, named bool, fail error) {
		t.Run(name, func(t *testing.T) {
			held := &heldStore{release: make(chan struct{}), fail: fail}
			c := openWrapped(t, t.TempDir(), func(s *disk.Store) cache.Store { held.Store = s; return held })
			var once sync.Once
			release := func() { once.Do(func() { close(held.release) }) }
			t.Cleanup(release) // before the cache closes, on every path
			ctx := context.Background()
			data := randomBytes(300 << 10)
			d := digest.FromBytes(data)
			src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
			fetch, open, key := c.Fetch, c.Open, cache.BlobKey(d)
			if named {
				fetch, open, key = c.FetchNamed, c.OpenNamed, "npm/x/-/x-1.tgz"
			}
			read := make(chan error, 1)
			go func() {
				got, _, err := readObject(fetch(ctx, key, cache.Expect{Digest: d, Size: int64(len(data))}, src.open))
				if err == nil && !bytes.Equal(got, data) {
					err = errors.New("wrong bytes")
				}
				read <- err
			}()
			select {
			case err := <-read:
				if err != nil {
					t.Fatalf("reader of a fill whose commit is held: %v", err)
				}
			case <-time.After(10 * time.Second): // bounds a broken run only
				release()
				t.Fatal("the reader waited for the commit")
			}

			type look struct {
				what string
				err  error
			}
			looks := make(chan look, 3)
			go func() { _, err := c.Stat(ctx, cache.BlobKey(d)); looks <- look{"Stat", err} }()
			go func() {
				obj, err := open(ctx, key)
				if err == nil {
					obj.Body.Close()
				}
				looks <- look{"Open", err}
			}()
			go func() {
				obj, err := fetch(ctx, key, cache.Expect{Digest: d, Size: int64(len(data))}, src.open)
				if err == nil {
					obj.Body.Close()
				}
				looks <- look{"Fetch", err}
			}()
			// Stat and Open wait for the commit; a Fetch may follow the
			// verified fill instead, but never fetches again.
			answered := 0
			wait := time.After(100 * time.Millisecond)
		held:
			for {
				select {
				case l := <-looks:
					if l.what != "Fetch" || l.err != nil {
						t.Fatalf("%s answered while the commit was held: %v", l.what, l.err)
					}
					answered++
				case <-wait:
					break held
				}
			}
			release()
			for range 3 - answered {
				l := <-looks
				switch {
				case fail == nil && l.err != nil:
					t.Errorf("%s after the commit: %v", l.what, l.err)
				case fail != nil && l.what == "Stat" && !errors.Is(l.err, cache.ErrNotFound):
					t.Errorf("Stat after a failed commit: %v, want not found", l.err)
				}
			}
			c.WaitLater()
			if fail == nil && src.opens.Load() != 1 {
				t.Errorf("upstream fetches: %d, want 1", src.opens.Load())
			}
		})
	}
	f("by digest", false, nil)
	f("named", true, nil)
	f("failed commit", false, errors.New("the disk broke"))
}
