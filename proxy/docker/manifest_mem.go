package docker

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// A warm manifest GET (by digest, or by a fresh tag) is served from the
// bytes of the manifest kept in memory: no file is opened. Bounded by
// bytes, small manifests only; a copy is current while the cache's
// generation of its blob key has not moved (nora removed or committed
// nothing of that shard since it was read), and the store is asked again
// after memRecheck, for a removal by another process sharing the store
// and for the access time eviction goes by.
const (
	memManifestMax   = 64 << 10 // larger manifests are read from the store
	memManifestBytes = 4 << 20
	memRecheck       = 5 * time.Second
)

// generations is what the cache offers to tell a copy in memory is current
// (cache.Cache.Generation); a Cache without it keeps no manifest in memory.
type generations interface {
	Generation(key string) uint64
}

type memManifest struct {
	key       string // the blob's cache key
	body      []byte
	mediaType string
	gen       uint64
	checked   atomic.Int64 // unix nanos of the last look at the store
}

// manifestMem is the bounded memory of small manifests by digest.
type manifestMem struct {
	gens  generations
	store Cache
	m     *ristretto.Cache[string, *memManifest]
}

func newManifestMem(c Cache) (*manifestMem, error) {
	gens, ok := c.(generations)
	if !ok {
		return nil, nil
	}
	m, err := ristretto.NewCache(&ristretto.Config[string, *memManifest]{
		NumCounters: 20_000, MaxCost: memManifestBytes, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &manifestMem{gens: gens, store: c, m: m}, nil
}

func (mm *manifestMem) close() {
	if mm != nil {
		mm.m.Close()
	}
}

// get returns manifest d if a current copy is in memory.
func (mm *manifestMem) get(ctx context.Context, d digest.Digest) (*memManifest, bool) {
	if mm == nil {
		return nil, false
	}
	e, ok := mm.m.Get(string(d))
	if !ok {
		return nil, false
	}
	if mm.gens.Generation(e.key) != e.gen {
		mm.m.Del(string(d))
		return nil, false
	}
	if now := time.Now().UnixNano(); now-e.checked.Load() > int64(memRecheck) {
		obj, err := mm.store.Open(ctx, e.key) // notes the access, too
		if err != nil {
			mm.m.Del(string(d))
			return nil, false
		}
		_ = obj.Body.Close()
		e.checked.Store(now)
	}
	return e, true
}

// gen is the generation of key for a copy read now (nil mm: none).
func (mm *manifestMem) gen(key string) uint64 {
	if mm == nil {
		return 0
	}
	return mm.gens.Generation(key)
}

// keeps reports whether a stored manifest of size is read into memory.
func (mm *manifestMem) keeps(size int64) bool {
	return mm != nil && size >= 0 && size <= memManifestMax
}

// keep reads obj, the stored manifest d (of mediaType, under key), closes
// it and keeps a copy, current as of gen (read before obj was opened).
func (mm *manifestMem) keep(obj *cache.Object, key string, d digest.Digest, mediaType string, gen uint64) ([]byte, error) {
	defer obj.Body.Close()
	b, err := io.ReadAll(io.LimitReader(obj.Body, memManifestMax+1))
	if err != nil {
		return nil, err
	}
	if len(b) <= memManifestMax {
		e := &memManifest{key: key, body: b, mediaType: mediaType, gen: gen}
		e.checked.Store(time.Now().UnixNano())
		mm.m.Set(string(d), e, int64(len(b)+len(key)+len(mediaType)+64))
	}
	return b, nil
}

// memBody serves bytes as a file is served: seekable, so ranges work.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }
