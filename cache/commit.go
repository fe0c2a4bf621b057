package cache

import (
	"context"
	"fmt"
	"io"
	"os"
)

// TempDir is where callers write objects they later hand to CommitFile (an
// upload session's file): on the store's filesystem when the store adopts
// files by rename, else in the cache's spool. Both are cleared at start-up.
func (c *Cache) TempDir() string { return c.tmpDir }

// CommitFile makes the finished, already verified temp file at tmpPath the
// object under key and records it in the index. The temp file is consumed
// in every case: adopted, copied and removed, or removed because key already
// holds the object (content-addressed keys hold identical bytes). The file
// must be closed.
func (c *Cache) CommitFile(ctx context.Context, tmpPath, key string, size int64) error {
	return c.commitTemp(ctx, tmpPath, key, size, true)
}

// commitTemp is CommitFile and CommitCached: hosted objects are claimed
// for GC's grace, cached ones are counted toward eviction.
func (c *Cache) commitTemp(ctx context.Context, tmpPath, key string, size int64, hosted bool) error {
	l := c.keyLock(key)
	l.Lock()
	defer l.Unlock()
	if _, err := c.store.Stat(ctx, key); err == nil {
		os.Remove(tmpPath)
		if hosted {
			c.claimed(key)
		}
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
	c.index.Added(key, size, hosted)
	if hosted {
		c.gc.claim(key)
	} else {
		c.evict.committed()
	}
	return nil
}

// commit makes the finished temp file tmp the object under key: adopted by
// rename where the store allows it, else copied in. The temp file is gone
// afterwards in every case (renamed or removed); the caller closes tmp.
func (c *Cache) commit(ctx context.Context, tmp *os.File, key string) error {
	if c.adopter != nil {
		err := c.adopter.Adopt(tmp, key)
		if err == nil {
			c.commits(key).Add(1)
		}
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := c.store.Put(ctx, key, tmp); err != nil {
		return err
	}
	c.commits(key).Add(1)
	return nil
}

// commitFailed words a failed commit; a full disk wakes the evictor.
func (c *Cache) commitFailed(key string, size int64, err error) error {
	if IsNoSpace(err) {
		c.evict.diskFull(size)
	}
	return noSpace(fmt.Errorf("cannot commit %s: %w", key, err))
}
