package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// The writes that follow their reply (a document's, later.go; a verified
// fill's commit, settling.go) wait for a lull in the requests before they
// take the disk. On a small box a burst of cold requests (an npm install of
// a thousand packages) is bound by CPU, and its commits (creates, renames,
// syncs, the index) cost as much CPU as the replies: run alongside, they
// doubled the install's time. Held back, they run once no request has
// looked in the cache for lullQuiet, or once the first of them has waited
// lullMax, or once lullWaiting writes wait.
//
// A load that outlasts lullMax (or lullWaiting) is steady, not a burst:
// holding its writes would only gather them into batches that take the
// disk at once, and keep the writes that must not wait (a push, a publish:
// answered once durable) behind their syncs. Until the requests pause
// again, writes go as they come.
//
// Nothing waits on a held write: whoever asks whether a key being committed
// is stored (Stat, Ref, Claim) releases the writes at once (settle), as
// WaitLater and Close do; a GET follows the verified fill. A crash while
// writes are held costs the fetches of the objects not yet committed, never
// a partial object: the same as a crash before any commit.
const (
	lullQuiet   = 20 * time.Millisecond
	lullMax     = time.Second
	lullWaiting = 2048
)

type lull struct {
	start  time.Time    // base of last: monotonic
	last   atomic.Int64 // ns since start of the last request's look (busy)
	steady atomic.Bool  // the load outlasted a hold: writes go at once

	mu       sync.Mutex
	release  chan struct{} // closed to release the writes waiting; nil if none wait
	since    time.Time     // when the first of them began waiting
	waiting  int
	watching bool // a goroutine watches for the lull (one at most)
	closed   bool

	quiet, max time.Duration // lullQuiet, lullMax (tests shorten them)
}

func newLull() *lull {
	l := &lull{start: time.Now(), quiet: lullQuiet, max: lullMax}
	l.last.Store(-int64(time.Hour)) // no request yet: quiet
	return l
}

// busy notes that a request looked in the cache just now.
func (l *lull) busy() {
	now := int64(time.Since(l.start))
	if prev := l.last.Swap(now); l.steady.Load() && time.Duration(now-prev) >= l.quiet {
		l.steady.Store(false) // the requests paused: a burst is held again
	}
}

// quietFor is how long no request has looked in the cache.
func (l *lull) quietFor() time.Duration {
	return time.Since(l.start) - time.Duration(l.last.Load())
}

// wait returns once the requests pause (see above).
func (l *lull) wait() {
	if l.quietFor() >= l.quiet || l.steady.Load() {
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if l.release == nil {
		l.release, l.since = make(chan struct{}), time.Now()
	}
	release := l.release
	if l.waiting++; l.waiting >= lullWaiting {
		l.steady.Store(true)
		l.releaseLocked()
	} else if !l.watching {
		l.watching = true
		go l.watch()
	}
	l.mu.Unlock()
	<-release
}

// watch releases the waiting writes at the lull, or lullMax after the first
// of them began waiting; it returns when none wait.
func (l *lull) watch() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		l.mu.Lock()
		release := l.release
		if release == nil {
			l.watching = false
			l.mu.Unlock()
			return
		}
		quiet, waited := l.quietFor(), time.Since(l.since)
		if quiet >= l.quiet || waited >= l.max {
			if quiet < l.quiet {
				l.steady.Store(true)
			}
			l.releaseLocked()
			l.mu.Unlock()
			continue
		}
		l.mu.Unlock()
		t.Reset(min(l.quiet-quiet, l.max-waited))
		select {
		case <-t.C:
		case <-release: // released meanwhile (releaseNow, close)
		}
	}
}

// releaseNow lets the waiting writes go (someone waits for one of them).
func (l *lull) releaseNow() {
	l.mu.Lock()
	l.releaseLocked()
	l.mu.Unlock()
}

func (l *lull) releaseLocked() {
	if l.release != nil {
		close(l.release)
		l.release, l.waiting = nil, 0
	}
}

// close releases the waiting writes and holds none from now on.
func (l *lull) close() {
	l.mu.Lock()
	l.closed = true
	l.releaseLocked()
	l.mu.Unlock()
}
