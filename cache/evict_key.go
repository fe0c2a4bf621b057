package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMaintenance refuses an eviction on request while a reindex runs.
var ErrMaintenance = errors.New("a reindex runs: try again when it is done")

// EvictKeys removes the proxied objects under keys now, as eviction would
// (under each key's lock, never a hosted one, on a shared store only on
// the lease holder), and drops them from the index. It returns the objects
// and bytes removed; keys not indexed or hosted are skipped.
func (c *Cache) EvictKeys(ctx context.Context, keys []string) (n int, freed int64, err error) {
	if !c.maintenance.TryRLock() {
		return 0, 0, ErrMaintenance
	}
	defer c.maintenance.RUnlock()
	if err := c.evict.lease.Check(); err != nil {
		return 0, 0, err
	}
	var vs []victim
	for _, k := range keys {
		if e, ok := c.index.Get(k); ok && !e.Hosted {
			vs = append(vs, victim{key: k, added: e.Added, access: e.LastAccess, size: e.Size})
		}
	}
	var cutoff time.Time // zero: no grace (a store nobody else writes)
	if c.evict.lease.Shared() {
		cutoff = time.Now().Add(-SharedGrace)
	}
	gone := c.removeObjects(ctx, vs, cutoff, func(_ string, e Entry) bool { return e.Hosted })
	return len(gone), c.forget(gone), nil
}
