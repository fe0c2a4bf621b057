package cache

import (
	"context"
	"fmt"
	"os"
)

// CommitCached is CommitFile for proxied content that arrives as a
// verified temp file rather than a fill (nora import): the object is
// cached, evicted like any fill under the storage limits, and GC, which
// removes hosted blobs nothing refers to, leaves it alone.
func (c *Cache) CommitCached(ctx context.Context, tmpPath, key string, size int64) error {
	l := c.keyLock(key)
	l.Lock()
	defer l.Unlock()
	if _, err := c.store.Stat(ctx, key); err == nil {
		os.Remove(tmpPath)
		c.index.Touch(key)
		return nil
	}
	f, err := os.Open(tmpPath)
	if err != nil {
		os.Remove(tmpPath)
		return fmt.Errorf("cannot commit %s: %w", key, err)
	}
	err = c.commit(ctx, f, key)
	f.Close()
	if err != nil {
		return c.commitFailed(key, size, err)
	}
	c.index.Added(key, size, false)
	c.evict.committed()
	return nil
}
