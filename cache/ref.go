package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Ref is a mutable reference (an OCI tag, a packument, an index page): what
// it pointed to when last fetched, and the validators to revalidate it.
type Ref struct {
	Digest       digest.Digest `json:"digest,omitempty"`
	MediaType    string        `json:"media_type,omitempty"`
	Size         int64         `json:"size,omitempty"`
	FetchedAt    time.Time     `json:"fetched_at"`
	ETag         string        `json:"etag,omitempty"`
	LastModified string        `json:"last_modified,omitempty"`
}

// Fresh reports whether r may be served without asking upstream.
func (r Ref) Fresh(ttl time.Duration, now time.Time) bool {
	return ttl > 0 && now.Sub(r.FetchedAt) < ttl
}

const maxRefBytes = 64 << 10

// Ref reads the ref under key (ErrNotFound if none). The name of a fill
// whose commit is under way is read once that commit ended (settling.go):
// the ref is written beside the object, and whoever reads it then opens
// the object.
func (c *Cache) Ref(ctx context.Context, key string) (Ref, error) {
	c.lull.busy()
	c.settle(ctx, key)
	return c.ref(ctx, key)
}

func (c *Cache) ref(ctx context.Context, key string) (Ref, error) {
	if r, ok := c.laterRef(key); ok {
		return r, nil
	}
	var r Ref
	body, _, err := c.store.Get(ctx, key, 0)
	if err != nil {
		return r, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxRefBytes+1))
	if err != nil {
		return r, fmt.Errorf("cannot read ref %s: %w", key, err)
	}
	if len(b) > maxRefBytes {
		return r, fmt.Errorf("ref %s is larger than %d bytes", key, maxRefBytes)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("cannot decode ref %s: %w", key, err)
	}
	return r, nil
}

// PutRef stores r under key atomically.
func (c *Cache) PutRef(ctx context.Context, key string, r Ref) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.store.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot store ref %s: %w", key, err)
	}
	c.commits(key).Add(1)
	return nil
}

// PutBlob stores a small proxied object whose bytes are already verified
// and in memory (a manifest), content addressed by d.
func (c *Cache) PutBlob(ctx context.Context, d digest.Digest, b []byte) error {
	return c.putBlob(ctx, d, b, false, time.Time{})
}

// PutHostedBlob is PutBlob for hosted content (a pushed manifest): the
// object is never evicted, and a running GC spares it.
func (c *Cache) PutHostedBlob(ctx context.Context, d digest.Digest, b []byte) error {
	return c.putBlob(ctx, d, b, true, time.Time{})
}

// putBlob stores b; read, if set, is when it was last read before (a
// document answered before it is stored).
func (c *Cache) putBlob(ctx context.Context, d digest.Digest, b []byte, hosted bool, read time.Time) error {
	if err := d.Validate(); err != nil || d.Algorithm().FromBytes(b) != d {
		return fmt.Errorf("cannot store blob %s: %w", d, ErrVerify)
	}
	key := BlobKey(d)
	l := c.keyLock(key)
	l.Lock()
	defer l.Unlock()
	if _, err := c.store.Stat(ctx, key); err == nil {
		if hosted {
			c.claimed(key)
		}
		return nil
	}
	if err := c.store.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return c.commitFailed(key, int64(len(b)), err)
	}
	c.commits(key).Add(1)
	if hosted {
		c.index.Added(key, int64(len(b)), true)
		c.gc.claim(key)
	} else {
		c.index.AddedRead(key, int64(len(b)), read)
		c.evict.committed()
	}
	return nil
}
