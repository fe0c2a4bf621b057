package cache

import (
	"context"
	"time"
)

// On a store that several instances share (S3), each keeps its own index
// of what it committed and read. The rules of the shared bucket:
//   - eviction and GC run on the holder of the maintenance lease only;
//     `nora gc` elsewhere fails at once with ErrLeaseHeld, naming the
//     holder;
//   - before each eviction pass (every reconcileEvery, or reconcileMin while
//     over max_size; ten times the last listing's duration if longer) and
//     before every GC, the holder reconciles its index with a listing of
//     the bucket: objects it did not know get their upload time as last
//     access, entries whose object is gone are dropped, and what hosted
//     state refers to is marked hosted; the usage the other instances
//     report (storage stats) is what their own index knows;
//   - LRU is by the accesses the holder saw, else by upload time: reads
//     served by other instances do not count;
//   - max_size caps the proxied bytes of the whole bucket; min_free never
//     evicts (deleting from the bucket frees nothing locally): it watches
//     the local disk of storage.path, which holds only the index and the
//     spool, and /ready is false below it, as on disk;
//   - eviction and GC spare objects the store says were written within
//     SharedGrace before the pass began (GC: the larger of it and [gc]
//     grace), since another instance may have just committed them, and
//     objects a hosted write on any instance claimed (lease_claims.go);
//   - an unreferenced blob that another instance pushed is proxied
//     content to the holder (the bucket does not say who wrote what): the
//     LRU under max_size, not GC, removes it.

// SharedGrace is how recent an object on a shared store must be for
// eviction and GC to spare it: covers an upload that another instance
// just committed and clocks of instances and store that differ a little.
const SharedGrace = 10 * time.Minute

// reconcileEvery and reconcileMin bound how often the lease holder lists
// the bucket: a listing costs a request per thousand objects (and about
// 0.15 ms an object on loopback, BenchmarkReconcile2k).
const (
	reconcileEvery = 5 * time.Minute
	reconcileMin   = time.Minute
)

// abortEvery is how often the holder aborts stale multipart uploads, and
// staleUpload how old they must be.
const (
	abortEvery  = time.Hour
	staleUpload = 24 * time.Hour
)

// StaleUploadAborter is implemented by stores that keep the parts of
// unfinished uploads (S3 multipart uploads): the lease holder aborts those
// started before before, left by a process that was killed mid-upload.
type StaleUploadAborter interface {
	AbortStale(ctx context.Context, before time.Time) (int, error)
}

// Lease is the maintenance lease this cache takes on a shared store.
func (c *Cache) Lease() *Lease { return c.evict.lease }

// leaseLoop takes and renews the lease until ctx ends, then releases it.
// Becoming the holder wakes the evictor, whose first pass reconciles.
func (c *Cache) leaseLoop(ctx context.Context) {
	l := c.evict.lease
	if !l.Shared() {
		return
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := l.release(rctx); err != nil {
			c.log.Warn("cannot release the maintenance lease", "err", err)
		}
	}()
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	held, failing, first := false, false, true
	for {
		sctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		now, err := l.step(sctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if (err != nil) != failing {
			if failing = err != nil; failing {
				c.log.Warn("cannot reach the maintenance lease", "err", err)
			}
		}
		if now != held || first && err == nil { // say at start who runs them
			held, first = now, false
			c.leaseChanged(held)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseChanged logs a change of holder; a new holder reconciles first.
func (c *Cache) leaseChanged(held bool) {
	l := c.evict.lease
	if !held {
		who, _ := l.Holder()
		c.log.Info("another instance runs eviction and GC", "holder", who, "me", l.id)
		return
	}
	c.log.Info("this instance holds the maintenance lease: it runs eviction and GC", "me", l.id)
	c.evict.reconcileNow.Store(true)
	c.evict.signal()
}

// sharedUpkeep is the holder's part before an eviction pass: abort stale
// uploads now and then, and reconcile the index when due. It reports
// whether it reconciled: a pass runs only then. The caller holds passMu.
func (e *evictor) sharedUpkeep(ctx context.Context) bool {
	now := e.now()
	if a, ok := e.c.store.(StaleUploadAborter); ok && now.Sub(e.lastAbort) >= abortEvery {
		e.lastAbort = now
		n, err := a.AbortStale(ctx, now.Add(-staleUpload))
		if err != nil {
			e.c.log.Warn("cannot abort stale uploads", "err", err)
		} else if n > 0 {
			e.c.log.Info("aborted uploads left by a stopped process", "uploads", n)
		}
	}
	// A large bucket takes long to list: never list more than a tenth of
	// the time.
	since, every, least := now.Sub(e.lastReconcile), max(reconcileEvery, 10*e.reconcileTook), max(reconcileMin, 10*e.reconcileTook)
	over := false
	if m := e.limits.Load().MaxSize; m > 0 {
		p, _, _ := e.c.index.Usage()
		over = p > m
	}
	if !e.reconcileNow.Load() && since < every && (!over || since < least) {
		return false
	}
	ok, err := e.c.reconcile(ctx, false)
	if err != nil {
		e.c.log.Error("cannot reconcile the index with the store", "err", err)
		return false
	}
	if !ok {
		return false
	}
	// The last reconcile read hosted state written after the marks it
	// outlived by SharedGrace: they protect nothing any more.
	if prev := e.lastReconcile; !prev.IsZero() {
		if err := e.c.dropClaimMarks(ctx, prev.Add(-SharedGrace)); err != nil {
			e.c.log.Warn("cannot drop old claim marks", "err", err)
		}
	}
	e.lastReconcile, e.reconcileTook = now, e.now().Sub(now)
	e.reconcileNow.Store(false)
	return true
}

// reconcile brings the index up to date with the store's listing: what
// other instances committed or removed. It waits for running eviction and
// GC if wait is set, else it reports false when they run.
func (c *Cache) reconcile(ctx context.Context, wait bool) (bool, error) {
	if c.lister == nil {
		return true, nil
	}
	if wait {
		c.maintenance.Lock()
	} else if !c.maintenance.TryLock() {
		return false, nil
	}
	defer c.maintenance.Unlock()
	rep, err := c.reindex(ctx, nil)
	if err != nil {
		return false, err
	}
	c.log.Debug("index reconciled with the shared store", "objects", rep.Objects, "added", rep.Added,
		"dropped", rep.Dropped, "proxied_bytes", rep.ProxiedBytes, "hosted_bytes", rep.HostedBytes)
	return true, nil
}
