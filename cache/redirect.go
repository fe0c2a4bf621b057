package cache

import (
	"context"
	"time"
)

// SetRedirect makes RedirectURL hand out URLs valid for ttl, when the
// store can presign them ([storage.s3] redirect = true). Call it before
// serving.
func (c *Cache) SetRedirect(ttl time.Duration) {
	if p, ok := c.store.(Presigner); ok {
		c.presigner, c.presignTTL = p, ttl
	}
}

// RedirectURL is a short-lived URL from which a client reads the committed
// object under key straight from the store; "" when redirects are off or
// the object is not committed (a fill in progress streams through nora).
// A redirect counts as an access for eviction.
func (c *Cache) RedirectURL(ctx context.Context, key string) string {
	if c.presigner == nil {
		return ""
	}
	if _, err := c.store.Stat(ctx, key); err != nil {
		return ""
	}
	u, err := c.presigner.PresignGet(ctx, key, c.presignTTL)
	if err != nil {
		c.log.Warn("cannot presign", "key", key, "err", err)
		return ""
	}
	c.index.Touch(key)
	return u
}
