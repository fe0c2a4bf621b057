package cache

import (
	"fmt"
	"io"
	"os"
	"time"
)

// joinWait bounds how long a fill that starts passing through waits for
// the callers it was given to attach (they are only being scheduled).
const joinWait = 2 * time.Second

// fillSink is where a fill's bytes go: the temp file the readers follow,
// and once the disk is full, the pipes of the readers attached then.
type fillSink struct {
	c    *Cache
	f    *fill
	key  string
	tmp  *os.File
	pass bool
	held []byte // the last chunk, sent once the bytes are verified
	ws   []*io.PipeWriter
}

func (s *fillSink) passing() bool { return s.pass }

// write stores p, which starts at offset off of the object.
func (s *fillSink) write(p []byte, off int64) error {
	if s.pass {
		return s.send(p)
	}
	n, err := s.tmp.Write(p)
	if n > 0 {
		s.f.progress(n)
	}
	if err == nil {
		return nil
	}
	if !IsNoSpace(err) {
		return fmt.Errorf("cannot write fill of %s: %w", s.key, err)
	}
	s.c.diskFull(s.key, s.f.size)
	if !s.startPass(off + int64(n)) {
		return fmt.Errorf("cannot fill %s: %w", s.key, noSpace(err))
	}
	return s.send(p[n:])
}

// startPass turns the fill into a pass-through from offset at: readers
// attached now read the temp file up to there, then their pipe. It
// reports false when no reader is there to pass the bytes to.
func (s *fillSink) startPass(at int64) bool {
	f := s.f
	s.c.mu.Lock()
	if s.c.fills[s.key] == f {
		delete(s.c.fills, s.key) // later callers start a fill of their own
	}
	s.c.mu.Unlock()
	f.mu.Lock()
	f.passAt, f.written = at, at
	for _, r := range f.readers {
		if !r.ranged {
			r.pipe, r.pipeW = io.Pipe()
		}
	}
	f.changed()
	deadline := time.Now().Add(joinWait)
	for f.joining > 0 && time.Now().Before(deadline) {
		ch := f.notify
		f.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
		f.mu.Lock()
	}
	f.passStarted = true
	for _, r := range f.readers {
		if r.pipeW != nil {
			s.ws = append(s.ws, r.pipeW)
		}
	}
	f.changed()
	f.mu.Unlock()
	s.pass = true
	return len(s.ws) > 0
}

// send passes the previous chunk on to every pipe and holds p back.
func (s *fillSink) send(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if s.held != nil {
		if err := s.broadcast(s.held); err != nil {
			return err
		}
	}
	s.held = append(s.held[:0], p...)
	return nil
}

// broadcast writes p to each pipe, dropping readers that went away. Each
// write waits for its reader: a pass-through goes at the slowest reader's
// pace (the server cuts readers that stall).
func (s *fillSink) broadcast(p []byte) error {
	live := s.ws[:0]
	for _, w := range s.ws {
		if _, err := w.Write(p); err == nil {
			live = append(live, w)
		}
	}
	s.ws = live
	if len(s.ws) == 0 {
		return fmt.Errorf("cannot fill %s: disk full and no reader left to pass the bytes to: %w", s.key, ErrNoSpace)
	}
	return nil
}

// finishPass sends the held-back chunk of verified bytes and ends every
// pipe cleanly.
func (s *fillSink) finishPass() error {
	if s.held != nil {
		s.broadcast(s.held)
	}
	for _, w := range s.ws {
		w.Close()
	}
	s.c.passThrough.Inc()
	return errPassedThrough
}

// fail ends the pipes of a pass-through with err (never a clean end) and
// returns it.
func (s *fillSink) fail(err error) error {
	for _, w := range s.ws {
		w.CloseWithError(err)
	}
	return err
}

// diskFull wakes the evictor and says so in the log at most once a minute.
func (c *Cache) diskFull(key string, size int64) {
	c.evict.diskFull(size)
	now := time.Now().Unix()
	if last := c.passLogged.Load(); now-last >= 60 && c.passLogged.CompareAndSwap(last, now) {
		c.log.Warn("disk full: passing fills through without storing them until space is freed",
			"key", key, "metric", "nora_fill_passthrough_total")
	}
}
