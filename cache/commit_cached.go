package cache

import (
	"context"
)

// CommitCached is CommitFile for proxied content that arrives as a
// verified temp file rather than a fill (nora import): the object is
// cached, evicted like any fill under the storage limits, and GC, which
// removes hosted blobs nothing refers to, leaves it alone.
func (c *Cache) CommitCached(ctx context.Context, tmpPath, key string, size int64) error {
	return c.commitTemp(ctx, tmpPath, key, size, false)
}
