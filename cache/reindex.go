package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Start sets the limits and starts the background lifecycle: a rebuild of
// the index if it was missing or damaged, the hosted kinds of what the
// markers refer to, then the evictor; on a shared store, the maintenance
// lease. Call it once, after SetMarkers.
func (c *Cache) Start(lim Limits) {
	c.evict.limits.Store(&lim)
	c.probe(c.bg)
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		c.probeLoop(c.bg)
	}()
	go func() {
		defer c.wg.Done()
		c.leaseLoop(c.bg)
	}()
	go func() {
		defer c.wg.Done()
		if c.fresh {
			if _, err := c.Reindex(c.bg, nil); err != nil && c.bg.Err() == nil {
				c.log.Error("cannot rebuild the index", "err", err)
			}
		} else if err := c.markHosted(c.bg); err != nil && c.bg.Err() == nil {
			c.log.Error("cannot mark hosted objects", "err", err)
		}
		c.evict.run(c.bg)
	}()
}

// ReindexReport is what a rebuild of the index found.
type ReindexReport struct {
	Objects      int64     `json:"objects"`
	Added        int64     `json:"added"`   // in the store but not in the index
	Dropped      int64     `json:"dropped"` // in the index but not in the store
	ProxiedBytes int64     `json:"proxied_bytes"`
	HostedBytes  int64     `json:"hosted_bytes"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
}

var seenBucket = []byte("reindex-seen")

// Reindex rebuilds the index from the store: objects missing from it are
// added (last access = their modification time), entries whose object is
// gone are dropped, and what the hosted state refers to is marked hosted.
// Known entries keep their access times. Eviction and GC wait for it;
// pulls and pushes do not. progress, if set, gets the objects seen.
func (c *Cache) Reindex(ctx context.Context, progress func(done, total int64)) (ReindexReport, error) {
	rep := ReindexReport{Started: time.Now()}
	if c.lister == nil {
		return rep, errors.New("this storage backend cannot list its objects")
	}
	c.maintenance.Lock()
	defer c.maintenance.Unlock()
	rep, err := c.reindex(ctx, progress)
	if err != nil {
		return rep, err
	}
	c.log.Info("index rebuilt", "objects", rep.Objects, "added", rep.Added, "dropped", rep.Dropped,
		"proxied_bytes", rep.ProxiedBytes, "hosted_bytes", rep.HostedBytes)
	return rep, nil
}

// reindex is Reindex under the maintenance lock, which the caller holds.
func (c *Cache) reindex(ctx context.Context, progress func(done, total int64)) (ReindexReport, error) {
	rep := ReindexReport{Started: time.Now()}
	ix := c.index
	if err := ix.db.Update(func(tx *bolt.Tx) error {
		tx.DeleteBucket(seenBucket)
		_, err := tx.CreateBucket(seenBucket)
		return err
	}); err != nil {
		return rep, fmt.Errorf("cannot start reindex: %w", err)
	}
	defer ix.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(seenBucket) })

	if err := c.recordListed(ctx, &rep, progress); err != nil {
		return rep, fmt.Errorf("cannot rebuild index: %w", err)
	}
	if err := ix.dropUnseen(&rep); err != nil {
		return rep, fmt.Errorf("cannot rebuild index: %w", err)
	}
	if err := ix.recount(); err != nil {
		return rep, fmt.Errorf("cannot rebuild index: %w", err)
	}
	if err := c.markHosted(ctx); err != nil {
		return rep, err
	}
	if err := ix.Flush(); err != nil {
		return rep, fmt.Errorf("cannot rebuild index: %w", err)
	}
	rep.ProxiedBytes, rep.HostedBytes, _ = ix.Usage()
	rep.Finished = time.Now()
	return rep, nil
}

// listed is an object the store's walk found.
type listed struct {
	key  string
	info Info
}

// recordListed walks the store's content-addressed objects, records them
// in the index and marks them seen, in batches.
func (c *Cache) recordListed(ctx context.Context, rep *ReindexReport, progress func(done, total int64)) error {
	_, _, total := c.index.Usage()
	var batch []listed
	flush := func() error {
		err := c.index.recordSeen(batch, rep)
		rep.Objects += int64(len(batch))
		batch = batch[:0]
		if progress != nil {
			progress(rep.Objects, max(total, rep.Objects))
		}
		return err
	}
	err := c.lister.List(ctx, "blobs/", func(key string, info Info) error {
		batch = append(batch, listed{key, info})
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// recordSeen marks the listed objects seen and gives each an entry of its
// size; a new one counts as added, last accessed when it was written.
func (ix *Index) recordSeen(batch []listed, rep *ReindexReport) error {
	return ix.db.Update(func(tx *bolt.Tx) error {
		objs, seen := tx.Bucket(objectsBucket), tx.Bucket(seenBucket)
		for _, f := range batch {
			if err := seen.Put([]byte(f.key), nil); err != nil {
				return err
			}
			e, ok := decodeEntry(objs.Get([]byte(f.key)))
			if ok && e.Size == f.info.Size {
				continue
			}
			if !ok {
				rep.Added++
				e = Entry{LastAccess: f.info.ModTime, Added: f.info.ModTime}
			}
			e.Size = f.info.Size
			if err := objs.Put([]byte(f.key), encodeEntry(e)); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropUnseen drops the entries the walk did not see: their objects are
// gone, unless committed after the rebuild began.
func (ix *Index) dropUnseen(rep *ReindexReport) error {
	after := ""
	for {
		var gone []string
		last, err := ix.scan(after, 4096, func(k string, e Entry) {
			if e.Added.Before(rep.Started) {
				gone = append(gone, k)
			}
		})
		if err != nil {
			return err
		}
		if missing := ix.unseen(gone); len(missing) > 0 {
			ix.removeIf(missing, func(_ string, e Entry) bool { return !e.Added.Before(rep.Started) })
			rep.Dropped += int64(len(missing))
		}
		if last == "" {
			return nil
		}
		after = last
	}
}

// unseen returns the keys the walk did not mark seen.
func (ix *Index) unseen(keys []string) []string {
	var missing []string
	if len(keys) == 0 {
		return nil
	}
	ix.db.View(func(tx *bolt.Tx) error {
		seen := tx.Bucket(seenBucket)
		for _, k := range keys {
			if seen.Get([]byte(k)) == nil {
				missing = append(missing, k)
			}
		}
		return nil
	})
	return missing
}

// markHosted makes every object the hosted state refers to hosted, so it
// is never evicted: the index of an older nora, or one just rebuilt, knows
// no kinds.
func (c *Cache) markHosted(ctx context.Context) error {
	for _, m := range c.markers {
		_, err := m.Mark(ctx, MarkOptions{DryRun: true}, func(d digest.Digest) {
			if d.Validate() != nil {
				return
			}
			key := BlobKey(d)
			if e, ok := c.index.Get(key); ok && !e.Hosted {
				c.index.MarkHosted(key)
			}
		})
		if err != nil {
			return fmt.Errorf("cannot mark hosted objects: %w", err)
		}
	}
	return c.index.Flush()
}
