package cache

import "sync/atomic"

// Generation changes whenever this Cache commits or removes a key of
// key's shard. A caller that keeps a copy of an object or a ref in memory
// reads the generation before it reads the store; the copy is current
// while the generation has not moved (a commit or removal by another
// process sharing the store is not seen: bound such a copy's age).
func (c *Cache) Generation(key string) uint64 {
	s := shard(key)
	return c.commitGens[s].Load() + c.removalGens[s].Load()
}

// removals counts the removals of key's shard.
func (c *Cache) removals(key string) *atomic.Uint64 { return &c.removalGens[shard(key)] }
