package cache

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ProbeEvery is how often the background probe asks the store whether it
// answers; /ready reads the last answer and never calls the store itself.
const ProbeEvery = 2 * time.Second

// probeTimeout bounds one probe: a store slower than this is not ready.
const probeTimeout = 5 * time.Second

// probe asks the store once (a stat of a key that need not exist) and
// keeps the answer for Ready.
func (c *Cache) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err := c.store.Stat(pctx, "ready-probe")
	cancel()
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	if ctx.Err() != nil {
		return
	}
	was := c.storeErr.Swap(&probeResult{err: err})
	if wasDown := was != nil && was.err != nil; wasDown != (err != nil) {
		if err != nil {
			c.log.Error("the store stopped answering", "err", err)
		} else {
			c.log.Info("the store answers again")
		}
	}
}

type probeResult struct{ err error }

// probeLoop probes the store every ProbeEvery until ctx ends.
func (c *Cache) probeLoop(ctx context.Context) {
	t := time.NewTicker(ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.probe(ctx)
		}
	}
}

// storeDown reports whether the store failed the last background probe.
func (c *Cache) storeDown() bool {
	r := c.storeErr.Load()
	return r != nil && r.err != nil
}

// Ready reports whether the store answered the last background probe and
// whether its filesystem has [storage] min_free free, as the evictor last
// saw it. It makes no store call.
func (c *Cache) Ready(context.Context) error {
	if r := c.storeErr.Load(); r != nil && r.err != nil {
		return fmt.Errorf("storage: %w", r.err)
	}
	if min, free := c.evict.limits.Load().MinFree, c.evict.free.Load(); free >= 0 && free < min {
		return fmt.Errorf("storage: %d bytes free, below min_free (%d)", free, min)
	}
	return nil
}
