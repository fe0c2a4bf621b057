package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
)

// clock is a test clock the token stores read.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func openStored(t *testing.T, store cache.Store, c *clock) *APITokens {
	t.Helper()
	s, err := OpenStoredAPITokens(t.Context(), store, filepath.Join(t.TempDir(), APITokensFile))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(c.now)
	return s
}

// TestAPITokensShared: a token created on one instance works on the
// other within CheckEvery, a revoked one stops within CheckEvery, and
// tokens created at once on both all land.
func TestAPITokensShared(t *testing.T) {
	cachetest.SharedStores(t, func(t *testing.T, sa, sb cache.Store) {
		c := &clock{}
		c.advance(time.Duration(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()))
		a, b := openStored(t, sa, c), openStored(t, sb, c)
		tok, _, err := a.Create("laptop", []string{"push:**"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.advance(CheckEvery)
		id, err := b.Verify(tok)
		if err != nil {
			t.Fatalf("a token created on one instance, on the other after %v: %v", CheckEvery, err)
		}
		if err := a.Revoke("laptop"); err != nil {
			t.Fatal(err)
		}
		c.advance(CheckEvery)
		if _, err := b.Verify(tok); !errors.Is(err, ErrUnknownAPIToken) {
			t.Fatalf("a token revoked on one instance, on the other after %v: %v", CheckEvery, err)
		}
		if b.Current(id) {
			t.Fatal("a revoked token's identity is current on the other instance")
		}

		var wg sync.WaitGroup
		toks := map[string]string{}
		var mu sync.Mutex
		for i := range 8 {
			s, name := a, fmt.Sprintf("t%d", i)
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				tok, _, err := s.Create(name, []string{"pull:**"}, 0)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				toks[name] = tok
				mu.Unlock()
			})
		}
		wg.Wait()
		c.advance(CheckEvery)
		for _, s := range []*APITokens{a, b} {
			if got := s.List(); len(got) != 8 {
				t.Fatalf("%d tokens listed, want 8: %+v", len(got), got)
			}
			for name, tok := range toks {
				if _, err := s.Verify(tok); err != nil {
					t.Fatalf("token %s: %v", name, err)
				}
			}
		}
	})
}

// TestAPITokensImport: the first open moves a local token file into the
// store and renames it; the tokens work from the store on any instance.
func TestAPITokensImport(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, APITokensFile)
	old, err := OpenAPITokens(file)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := old.Create("laptop", []string{"push:**"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	store, err := disk.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStoredAPITokens(t.Context(), store, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the local file is still there: %v", err)
	}
	if _, err := os.Stat(file + ".imported"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*APITokens{s, openStored(t, store, &clock{})} {
		if _, err := s.Verify(tok); err != nil {
			t.Fatalf("an imported token: %v", err)
		}
	}
}
