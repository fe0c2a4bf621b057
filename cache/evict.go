package cache

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sys/unix"
)

// Limits bound what proxied content may take. Hosted content is never
// evicted and does not count against MaxSize.
type Limits struct {
	// MaxSize caps the bytes of proxied objects: when a commit takes them
	// above it, the least recently used are removed until they are at
	// LowWater of it. 0 = no cap.
	MaxSize int64
	// MinFree keeps this many bytes free on the store's filesystem: below
	// it, proxied objects are evicted until MinFree plus a tenth is free.
	MinFree int64
}

// LowWater is the share of MaxSize eviction brings proxied content down to,
// so it does not run again on the very next commit.
const LowWater = 0.9

// forgetBatch is how many removed objects one index transaction drops.
const forgetBatch = 4096

// evictCheck is how often the evictor looks at the free space even when no
// commit woke it (other programs fill the disk too).
const evictCheck = 10 * time.Second

// evictor removes least recently used proxied objects in the background:
// a commit only wakes it, never waits for it. On a shared store only the
// holder of the maintenance lease evicts (lease_upkeep.go).
type evictor struct {
	c      *Cache
	limits atomic.Pointer[Limits]
	wake   chan struct{}
	urgent atomic.Int64 // bytes a full disk asked for, beyond the limits
	lease  *Lease       // its clock is the lifecycle's: now

	passMu        sync.Mutex // one pass at a time; guards the times below
	lastReconcile time.Time
	reconcileTook time.Duration
	lastAbort     time.Time
	reconcileNow  atomic.Bool // a new holder reconciles before its first pass
	marks         claimMarks  // this instance's claim marks (lease_claims.go)

	evictions, evictedBytes *metrics.Counter
	free, total             atomic.Int64 // last statfs; -1 unknown
}

func newEvictor(c *Cache, set *metrics.Set) *evictor {
	// A store whose objects are local files lives under storage.path,
	// whose index one process holds: it is never shared.
	e := &evictor{c: c, wake: make(chan struct{}, 1), lease: newLease(c.store, c.opener == nil)}
	e.marks.last = map[string]time.Time{}
	e.limits.Store(&Limits{})
	e.free.Store(-1)
	e.total.Store(-1)
	e.evictions = set.NewCounter("nora_evictions_total")
	e.evictedBytes = set.NewCounter("nora_evicted_bytes_total")
	set.NewGauge(`nora_storage_bytes{kind="proxied"}`, func() float64 { p, _, _ := c.index.Usage(); return float64(p) })
	set.NewGauge(`nora_storage_bytes{kind="hosted"}`, func() float64 { _, h, _ := c.index.Usage(); return float64(h) })
	set.NewGauge("nora_storage_capacity_bytes", func() float64 {
		if m := e.limits.Load().MaxSize; m > 0 {
			return float64(m)
		}
		if e.lease.Shared() { // a bucket has no size; total is the local disk's
			return -1
		}
		return float64(e.total.Load())
	})
	set.NewGauge("nora_storage_free_bytes", func() float64 { return float64(e.free.Load()) })
	set.NewGauge("nora_maintenance_lease_held", func() float64 {
		if e.lease.Held() {
			return 1
		}
		return 0
	})
	return e
}

func (e *evictor) now() time.Time { return e.lease.clock() }

// signal wakes the evictor if it sleeps.
func (e *evictor) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// committed is called after every commit of a proxied object.
func (e *evictor) committed() {
	if m := e.limits.Load().MaxSize; m > 0 {
		if p, _, _ := e.c.index.Usage(); p > m {
			e.signal()
		}
	}
}

// diskFull asks for at least want bytes more than the limits would free.
func (e *evictor) diskFull(want int64) {
	if want < 64<<20 {
		want = 64 << 20
	}
	e.urgent.Store(max(e.urgent.Load(), want))
	e.signal()
}

func (e *evictor) run(ctx context.Context) {
	t := time.NewTicker(evictCheck)
	defer t.Stop()
	for {
		e.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-t.C:
		}
	}
}

// need is how many bytes of proxied content should go now.
func (e *evictor) need() int64 {
	lim := e.limits.Load()
	var need int64
	if p, _, _ := e.c.index.Usage(); lim.MaxSize > 0 && p > lim.MaxSize {
		need = p - int64(float64(lim.MaxSize)*LowWater)
	}
	// Deleting from a bucket frees nothing on the local disk: there
	// min_free only turns /ready false (probe.go).
	if free, ok := e.readSpace(); ok && e.c.space != nil && lim.MinFree > 0 && free < lim.MinFree {
		need = max(need, lim.MinFree+lim.MinFree/10-free)
	}
	return max(need, e.urgent.Swap(0))
}

// readSpace reads and keeps the free and total bytes that Ready, Stats
// and the metrics show; false if they are not known.
func (e *evictor) readSpace() (free int64, ok bool) {
	free, total, err := e.c.freeSpace()
	if err != nil {
		e.c.log.Warn("cannot read free space", "err", err)
		return 0, false
	}
	if total < 0 {
		return 0, false
	}
	e.free.Store(free)
	e.total.Store(total)
	return free, true
}

// freeSpace is the free and total bytes of the store's filesystem, or on
// a store that is not a local filesystem (S3) of the local disk that holds
// the index and the spool; total -1 if neither can tell.
func (c *Cache) freeSpace() (free, total int64, err error) {
	if c.space != nil {
		return c.space.Space()
	}
	if c.adopter != nil { // files on a filesystem that cannot say
		return -1, -1, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.tmpDir, &st); err != nil {
		return -1, -1, fmt.Errorf("cannot statfs %s: %w", c.tmpDir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// once evicts what need asks for, oldest access first. On a shared store
// it runs on the lease holder only, when a reconcile of the index with the
// store is due and done, and spares objects committed within SharedGrace
// before it began.
func (e *evictor) once(ctx context.Context) {
	e.passMu.Lock()
	defer e.passMu.Unlock()
	if !e.lease.Held() {
		e.readSpace() // /ready watches min_free on every instance
		return
	}
	var cutoff time.Time // zero: no grace (a store nobody else writes)
	if e.lease.Shared() {
		// Each pass follows a fresh listing: what other instances filled,
		// and what hosted state refers to, which must never go.
		if !e.sharedUpkeep(ctx) {
			e.readSpace()
			return
		}
		cutoff = e.now().Add(-SharedGrace)
	}
	need := e.need()
	if need <= 0 || !e.c.maintenance.TryRLock() { // a reindex runs: usage is not known yet
		return
	}
	defer e.c.maintenance.RUnlock()
	if err := e.c.index.Flush(); err != nil { // the latest accesses decide
		e.c.log.Error("cannot flush index before eviction", "err", err)
	}
	victims, err := e.c.index.oldestProxied(need, cutoff)
	if err != nil {
		e.c.log.Error("cannot choose objects to evict", "err", err)
		return
	}
	var n, freed int64
	for len(victims) > 0 && ctx.Err() == nil && e.lease.Held() {
		chunk := victims[:min(len(victims), forgetBatch)]
		victims = victims[len(chunk):]
		gone := e.c.removeObjects(ctx, chunk, cutoff, func(_ string, en Entry) bool { return en.Hosted })
		n, freed = n+int64(len(gone)), freed+e.c.forget(gone)
	}
	e.evictions.Add(int(n))
	e.evictedBytes.Add(int(freed))
	p, _, _ := e.c.index.Usage()
	e.c.log.Info("evicted least recently used proxied objects", "objects", n, "bytes", freed,
		"wanted", need, "proxied_bytes", p)
}

// victim is a key chosen for removal and the commit time it had then: an
// object committed again since is not the one chosen.
type victim struct {
	key    string
	added  time.Time
	access time.Time
	size   int64
}

// removeObjects deletes the victims from the store, each under its key
// lock, skipping any whose entry changed since it was chosen (committed
// again) or that spare reports must stay now, and on a shared store what
// another instance committed or claimed (usedElsewhere). It stops when the maintenance lease is lost. It returns the victims
// removed; forget then drops them from the index, in one transaction for
// many (a crash in between leaves entries whose object is gone, which the
// next removal or reindex drops).
func (c *Cache) removeObjects(ctx context.Context, vs []victim, cutoff time.Time, spare func(key string, e Entry) bool) []victim {
	var gone []victim
	for _, v := range vs {
		if !c.evict.lease.Held() {
			break
		}
		l := c.keyLock(v.key)
		l.Lock()
		e, ok := c.index.Get(v.key)
		if !ok || !e.Added.Equal(v.added) || spare(v.key, e) || c.usedElsewhere(ctx, v.key, cutoff) {
			l.Unlock()
			continue
		}
		err := c.store.Delete(ctx, v.key)
		c.removals(v.key).Add(1)
		l.Unlock()
		if err != nil && !errors.Is(err, ErrNotFound) {
			c.log.Error("cannot remove object", "key", v.key, "err", err)
			continue
		}
		gone = append(gone, v)
	}
	return gone
}

// forget drops removed objects from the index and returns the bytes freed.
// An object committed again after its delete keeps its new entry.
func (c *Cache) forget(gone []victim) int64 {
	keys := make([]string, len(gone))
	added := make(map[string]time.Time, len(gone))
	for i, v := range gone {
		keys[i], added[v.key] = v.key, v.added
	}
	return c.index.removeIf(keys, func(k string, e Entry) bool { return !e.Added.Equal(added[k]) })
}

// usedElsewhere reports, on a shared store (a cutoff is set), whether the
// store says the object under key was written after cutoff or carries a
// claim mark: another instance committed it again or refers to it, which
// this index cannot know. An error to stat it spares it too, except a
// missing object, which is gone already.
func (c *Cache) usedElsewhere(ctx context.Context, key string, cutoff time.Time) bool {
	if cutoff.IsZero() {
		return false
	}
	info, err := c.store.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false
	}
	return err != nil || info.ModTime.After(cutoff) || c.claimedElsewhere(ctx, key)
}

// oldestProxied returns the least recently accessed proxied objects whose
// sizes add up to at least need, oldest first, leaving out those added
// after cutoff (if set). It scans the index in chunks and keeps only as
// many candidates as need requires.
func (ix *Index) oldestProxied(need int64, cutoff time.Time) ([]victim, error) {
	h := &newestFirst{}
	var sum int64
	after := ""
	for {
		last, err := ix.scan(after, 4096, func(k string, e Entry) {
			if e.Hosted || !cutoff.IsZero() && e.Added.After(cutoff) {
				return
			}
			heap.Push(h, victim{key: k, added: e.Added, access: e.LastAccess, size: e.Size})
			sum += e.Size
			// Drop the newest while the rest still cover need.
			for h.Len() > 1 && sum-(*h)[0].size >= need {
				sum -= heap.Pop(h).(victim).size
			}
		})
		if err != nil {
			return nil, err
		}
		if last == "" {
			break
		}
		after = last
	}
	// A MarkHosted not yet flushed is honoured by removeObjects.
	out := make([]victim, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(victim)
	}
	return out, nil
}

// newestFirst is a max-heap on access time.
type newestFirst []victim

func (h newestFirst) Len() int           { return len(h) }
func (h newestFirst) Less(i, j int) bool { return h[i].access.After(h[j].access) }
func (h newestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newestFirst) Push(x any)        { *h = append(*h, x.(victim)) }
func (h *newestFirst) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// Stats is what nora storage stats shows.
type Stats struct {
	ProxiedBytes int64 `json:"proxied_bytes"`
	HostedBytes  int64 `json:"hosted_bytes"`
	Objects      int64 `json:"objects"`
	MaxSize      int64 `json:"max_size"`
	MinFree      int64 `json:"min_free"`
	FreeBytes    int64 `json:"free_bytes"`  // -1 if the store cannot tell
	TotalBytes   int64 `json:"total_bytes"` // -1 if the store cannot tell
	Evictions    int64 `json:"evictions"`
	EvictedBytes int64 `json:"evicted_bytes"`
	// LeaseHolder is, on a shared store, the instance that runs eviction
	// and GC as this one last saw it.
	LeaseHolder string `json:"lease_holder,omitempty"`
}

// Stats reports usage, limits and eviction counts now.
func (c *Cache) Stats(context.Context) (Stats, error) {
	lim := c.evict.limits.Load()
	s := Stats{MaxSize: lim.MaxSize, MinFree: lim.MinFree, FreeBytes: -1, TotalBytes: -1,
		Evictions: int64(c.evict.evictions.Get()), EvictedBytes: int64(c.evict.evictedBytes.Get())}
	s.ProxiedBytes, s.HostedBytes, s.Objects = c.index.Usage()
	if c.evict.lease.Shared() {
		s.LeaseHolder, _ = c.evict.lease.Holder()
	}
	free, total, err := c.freeSpace()
	if err != nil {
		return s, err
	}
	s.FreeBytes, s.TotalBytes = free, total
	return s, nil
}
