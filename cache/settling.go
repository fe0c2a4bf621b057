package cache

import (
	"context"
	"sync"
	"sync/atomic"
)

// A fill's readers end once its bytes are verified; its commit (a sync
// round, the rename, another round, the index) goes on behind them, once
// the requests pause (lull.go), as a document's write does behind its
// reply (later.go). A client of a cold install then waits for no durable
// commit at all; a crash before the commit ends costs one more fetch,
// never a partial object.
//
// Until the commit ends, whoever asks the cache whether a key it commits
// is stored (Stat, Ref, Claim: the fill's key and, for a named fill, the
// blob key of its bytes) lets it go at once and waits for it rather than
// finding nothing: a HEAD, an export or a mount right after a response
// finds the object stored, or its commit failed. Open and OpenNamed do
// not wait: their callers fall back to Fetch, which follows the verified
// fill at once (on S3 the commit is an upload, which a GET need not wait
// for).
type settling struct {
	n       atomic.Int64 // keys committing; 0 spares the lookups a lock
	mu      sync.Mutex
	keys    map[string]chan struct{}
	commits int        // commits under way
	idle    *sync.Cond // broadcast when commits falls to 0
}

// settleStart marks keys as committing; the returned func ends that.
func (c *Cache) settleStart(keys ...string) (end func()) {
	s := &c.settling
	done := make(chan struct{})
	s.mu.Lock()
	if s.keys == nil {
		s.keys = map[string]chan struct{}{}
	}
	for _, k := range keys {
		s.keys[k] = done
	}
	s.n.Add(int64(len(keys)))
	s.commits++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		for _, k := range keys {
			if s.keys[k] == done {
				delete(s.keys, k)
			}
		}
		s.n.Add(-int64(len(keys)))
		if s.commits--; s.commits == 0 && s.idle != nil {
			s.idle.Broadcast()
		}
		s.mu.Unlock()
		close(done)
	}
}

// wait returns once no commit is under way (fills may start meanwhile).
func (s *settling) wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle == nil {
		s.idle = sync.NewCond(&s.mu)
	}
	for s.commits > 0 {
		s.idle.Wait()
	}
}

// settle waits while key is committing; true: it waited, so a look that
// found nothing is worth one more.
func (c *Cache) settle(ctx context.Context, key string) bool {
	s := &c.settling
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	done := s.keys[key]
	s.mu.Unlock()
	if done == nil {
		return false
	}
	c.lull.releaseNow() // the commit may be held for a lull: not for us
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
