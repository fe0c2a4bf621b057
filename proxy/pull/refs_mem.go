package pull

import (
	"context"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"nora/cache"
)

// A ref read from the store is kept in memory, so that a fresh tag or
// document costs no file read and no JSON decode. A copy is current while
// the store's generation of its key has not moved (this process committed
// or removed nothing of that shard since the read, its own PutRef
// included); it is read again after refRecheck for a write by another
// process sharing the store. A store that cannot tell generations keeps
// nothing in memory.
const (
	refMemEntries = 4096
	refRecheck    = 5 * time.Second
)

// generations is cache.Cache.Generation.
type generations interface {
	Generation(key string) uint64
}

type memRef struct {
	ref  cache.Ref
	gen  uint64
	read int64 // unix nanos
}

type refMem struct {
	gens generations
	m    *ristretto.Cache[string, memRef]
}

func newRefMem(store RefStore) (*refMem, error) {
	gens, ok := store.(generations)
	if !ok {
		return nil, nil
	}
	m, err := ristretto.NewCache(&ristretto.Config[string, memRef]{
		NumCounters: 10 * refMemEntries, MaxCost: refMemEntries, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &refMem{gens: gens, m: m}, nil
}

func (rm *refMem) close() {
	if rm != nil {
		rm.m.Close()
	}
}

// ref reads the ref under key, from memory when a current copy is there.
func (e *Refs) ref(ctx context.Context, key string) (cache.Ref, error) {
	rm := e.mem
	if rm == nil {
		return e.store.Ref(ctx, key)
	}
	gen := rm.gens.Generation(key)
	now := time.Now().UnixNano()
	if c, ok := rm.m.Get(key); ok && c.gen == gen && now-c.read <= int64(refRecheck) {
		return c.ref, nil
	}
	ref, err := e.store.Ref(ctx, key)
	if err == nil {
		rm.m.Set(key, memRef{ref: ref, gen: gen, read: now}, 1)
	}
	return ref, err
}

// checked stores ref, found still current upstream, under key. With the
// refs in memory the clients waiting on the revalidation do not wait for
// the store's durable write as well: memory has the new check time at
// once, the store gets it in the background (a write lost in a crash
// costs one more revalidation).
func (e *Refs) checked(ctx context.Context, key string, ref cache.Ref) {
	if e.mem == nil {
		if err := e.store.PutRef(ctx, key, ref); err != nil {
			e.log.Warn("cannot update ref", "key", key, "err", err)
		}
		return
	}
	e.mem.m.Set(key, memRef{ref: ref, gen: e.mem.gens.Generation(key), read: time.Now().UnixNano()}, 1)
	e.mem.m.Wait() // the next Resolve sees it
	e.writes.Add(1)
	go func() {
		defer e.writes.Done()
		ctx, cancel := Detached(e.base, refreshTimeout)
		defer cancel()
		if err := e.store.PutRef(ctx, key, ref); err != nil {
			e.log.Warn("cannot update ref", "key", key, "err", err)
		}
	}()
}
