package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// On a shared store a hosted write on one instance may refer to an object
// that the lease holder's index still takes for old, unreferenced proxied
// content: the holder learns of the manifest only at its next reconcile.
// Claim therefore leaves a claim mark in the store before it looks at the
// object, and the holder spares every object that carries one. A mark is
// dropped once a reconcile that began SharedGrace after it has read the
// hosted state (the manifest is written moments after the claim).

// claimPrefix holds the claim marks, one per claimed key.
const claimPrefix = LeasePrefix + "claims/"

// claimRenew is how often one instance rewrites the mark of a key it keeps
// claiming (a hosted blob that is pulled often): well within SharedGrace.
const claimRenew = SharedGrace / 2

// claimMarks remembers when this instance last wrote each key's mark.
type claimMarks struct {
	mu    sync.Mutex
	last  map[string]time.Time
	swept time.Time
}

// markClaim writes the claim mark of key on a shared store, unless this
// instance wrote it less than claimRenew ago.
func (c *Cache) markClaim(ctx context.Context, key string) error {
	if !c.evict.lease.Shared() {
		return nil
	}
	now := c.evict.now()
	m := &c.evict.marks
	m.mu.Lock()
	if t, ok := m.last[key]; ok && now.Sub(t) < claimRenew {
		m.mu.Unlock()
		return nil
	}
	if now.Sub(m.swept) >= claimRenew {
		for k, t := range m.last {
			if now.Sub(t) >= claimRenew {
				delete(m.last, k)
			}
		}
		m.swept = now
	}
	m.mu.Unlock()
	if err := c.store.Put(ctx, claimPrefix+key, strings.NewReader(c.evict.lease.id)); err != nil {
		return fmt.Errorf("cannot mark %s claimed: %w", key, err)
	}
	m.mu.Lock()
	m.last[key] = now
	m.mu.Unlock()
	return nil
}

// claimedElsewhere reports whether key carries a claim mark; a mark that
// cannot be read spares the object too.
func (c *Cache) claimedElsewhere(ctx context.Context, key string) bool {
	_, err := c.store.Stat(ctx, claimPrefix+key)
	return !errors.Is(err, ErrNotFound)
}

// dropClaimMarks removes the marks written before before.
func (c *Cache) dropClaimMarks(ctx context.Context, before time.Time) error {
	if c.lister == nil {
		return nil
	}
	var old []string
	err := c.lister.List(ctx, claimPrefix, func(key string, info Info) error {
		if info.ModTime.Before(before) {
			old = append(old, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot list claim marks: %w", err)
	}
	for _, k := range old {
		if err := c.store.Delete(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("cannot drop claim mark %s: %w", k, err)
		}
	}
	return nil
}
