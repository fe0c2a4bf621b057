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
	refMemEntries = 10_000
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
