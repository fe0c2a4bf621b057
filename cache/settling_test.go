package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
// held. Another Fetch meanwhile follows the verified fill at once, without
// fetching again; whoever asks whether it is stored (Stat, Ref) waits for
// the commit and finds the object, or, when the commit fails, nothing.
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
			// fetchHeld reads the object through Fetch while the commit is
			// held: it must end, with every byte (and result, if given).
			fetchHeld := func(what, result string) {
				t.Helper()
				done := make(chan error, 1)
				go func() {
					b, res, err := readObject(fetch(ctx, key, cache.Expect{Digest: d, Size: int64(len(data))}, src.open))
					if err == nil && (!bytes.Equal(b, data) || result != "" && res != result) {
						err = fmt.Errorf("%d bytes, %q", len(b), res)
					}
					done <- err
				}()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("%s while the commit was held: %v", what, err)
					}
				case <-time.After(10 * time.Second): // bounds a broken run only
					release()
					t.Fatalf("%s waited for the commit", what)
				}
			}
			fetchHeld("the reader of the fill", "")
			// Another GET meanwhile follows the verified fill at once: a hit.
			fetchHeld("another Fetch", "hit")

			// Whoever asks whether it is stored waits for the commit.
			type look struct {
				what string
				err  error
			}
			looks := make(chan look, 2)
			go func() { _, err := c.Stat(ctx, cache.BlobKey(d)); looks <- look{"Stat", err} }()
			n := 1
			if named {
				n++
				go func() { _, err := c.Ref(ctx, key); looks <- look{"Ref", err} }()
			}
			select {
			case l := <-looks:
				t.Fatalf("%s answered while the commit was held: %v", l.what, l.err)
			case <-time.After(100 * time.Millisecond):
			}
			release()
			for range n {
				l := <-looks
				switch {
				case fail == nil && l.err != nil:
					t.Errorf("%s after the commit: %v", l.what, l.err)
				case fail != nil && !errors.Is(l.err, cache.ErrNotFound):
					t.Errorf("%s after a failed commit: %v, want not found", l.what, l.err)
				}
			}
			if fail == nil {
				if _, res, err := readObject(open(ctx, key)); err != nil || res != "hit" {
					t.Errorf("open after the commit: %q, %v", res, err)
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
