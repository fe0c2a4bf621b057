package cache

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SetClock replaces the lifecycle's clock: the lease's terms, eviction's
// and GC's start and grace.
func (c *Cache) SetClock(now func() time.Time) {
	l := c.evict.lease
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// LeaseStep takes, renews or waits for the maintenance lease once, as the
// background loop does every LeaseTTL/3.
func (c *Cache) LeaseStep(ctx context.Context) (bool, error) { return c.evict.lease.step(ctx) }

// SetLimits sets the eviction limits without starting the lifecycle.
func (c *Cache) SetLimits(lim Limits) { c.evict.limits.Store(&lim) }

// EvictPass runs one eviction pass now; on a shared store it reconciles
// the index first.
func (c *Cache) EvictPass(ctx context.Context) {
	c.evict.reconcileNow.Store(true)
	c.evict.once(ctx)
}

// Backdate moves the commit time and last access of key's entry back by d,
// as if it had been committed that long ago.
func (ix *Index) Backdate(key string, d time.Duration) error {
	return ix.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		e, ok := decodeEntry(b.Get([]byte(key)))
		if !ok {
			return ErrNotFound
		}
		e.Added, e.LastAccess = e.Added.Add(-d), e.LastAccess.Add(-d)
		return b.Put([]byte(key), encodeEntry(e))
	})
}

// SetLull sets how long the writes behind replies wait for a pause in the
// requests, and at most (lull.go).
func (c *Cache) SetLull(quiet, max time.Duration) {
	c.lull.mu.Lock()
	c.lull.quiet, c.lull.max = quiet, max
	c.lull.mu.Unlock()
}
