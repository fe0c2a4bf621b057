package tenant

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// source is one format's hosted objects.
type source struct {
	format string
	src    Source
}

// usageMaxAge is how long a count holds without a Changed: writes by
// another instance on a shared store reach no Changed here.
const usageMaxAge = time.Minute

// countTimeout bounds one count, which outlives the caller that started
// it when others wait for it too.
const countTimeout = 10 * time.Minute

// usageCache is a tenant's last count.
type usageCache struct {
	// gen is bumped by Changed and Recount; a count made at an older
	// gen is out of date.
	gen atomic.Uint64

	mu      sync.Mutex
	counted bool
	at      time.Time // when the count started
	atGen   uint64
	bytes   int64
	objects int64
}

// fresh is the last count if it is still right at now.
func (c *usageCache) fresh(now time.Time) (bytes, objects int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok = c.counted && c.atGen == c.gen.Load() && now.Sub(c.at) < usageMaxAge
	return c.bytes, c.objects, ok
}

// countedWithin reports whether a count started less than d before now.
func (c *usageCache) countedWithin(now time.Time, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counted && now.Sub(c.at) < d
}

// last is the last count's bytes, right or not.
func (c *usageCache) last() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// store keeps a count made at gen from at, unless a later one is kept.
func (c *usageCache) store(gen uint64, at time.Time, bytes, objects int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counted && gen < c.atGen {
		return
	}
	c.counted, c.atGen, c.at, c.bytes, c.objects = true, gen, at, bytes, objects
}

type counted struct{ bytes, objects int64 }

// usage is t's last count when still right, else a new count, shared by
// the callers that ask for it meanwhile.
func (s *Set) usage(ctx context.Context, t *Tenant) (Usage, error) {
	u := Usage{Tenant: t.name, Quota: t.quota}
	var ok bool
	if u.Bytes, u.Objects, ok = t.usage.fresh(s.now()); ok {
		return u, nil
	}
	gen := t.usage.gen.Load()
	// The key names the gen, so that a caller after a Changed does not
	// take the count started before it.
	ch := s.counts.DoChan(t.name+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		// A count that ended since fresh was asked is as good.
		if b, o, ok := t.usage.fresh(s.now()); ok {
			return counted{b, o}, nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
		defer cancel()
		at := s.now()
		c, err := s.count(cctx, t)
		if err == nil {
			t.usage.store(gen, at, c.bytes, c.objects)
		}
		return c, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Usage{}, r.Err
		}
		c := r.Val.(counted)
		u.Bytes, u.Objects = c.bytes, c.objects
		return u, nil
	case <-ctx.Done():
		return Usage{}, fmt.Errorf("cannot count the usage of tenant %s: %w", t.name, ctx.Err())
	}
}

// count sums the sizes of the distinct objects t's names hold, in every
// source.
func (s *Set) count(ctx context.Context, t *Tenant) (counted, error) {
	s.srcMu.Lock()
	sources := s.sources
	s.srcMu.Unlock()
	var c counted
	seen := map[string]struct{}{}
	for _, src := range sources {
		keep := func(name string) bool { return s.Owner(src.format, name) == t }
		err := src.src.Holdings(ctx, keep, func(name, key string, size int64) error {
			if !keep(name) {
				return nil // a source that lists more than asked
			}
			if _, ok := seen[key]; !ok {
				seen[key] = struct{}{}
				c.bytes += size
				c.objects++
			}
			return nil
		})
		if err != nil {
			return counted{}, fmt.Errorf("cannot count the %s usage of tenant %s: %w", src.format, t.name, err)
		}
	}
	return c, nil
}
