package upstream

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// StallReader wraps an upstream body so that a Read fails (IsUnavailable)
// when no byte arrives for d. A slow link is fine, a hung one is not
// (DESIGN 2.1: bound stalls, never a whole transfer). Only time spent
// waiting inside Read counts, so a slow consumer is not taken for a stall.
// On expiry the body is closed, which unblocks the pending Read.
func StallReader(rc io.ReadCloser, d time.Duration) io.ReadCloser {
	s := &stallReader{rc: rc, d: d}
	s.timer = time.AfterFunc(d, s.expire)
	s.timer.Stop()
	return s
}

type stallReader struct {
	rc      io.ReadCloser
	d       time.Duration
	timer   *time.Timer
	stalled atomic.Bool
	once    sync.Once
	cerr    error
}

func (s *stallReader) expire() {
	s.stalled.Store(true)
	s.closeBody()
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.stalled.Load() {
		return 0, s.err()
	}
	s.timer.Reset(s.d)
	n, err := s.rc.Read(p)
	s.timer.Stop()
	if s.stalled.Load() {
		// The body was closed under this Read: the stream is over and the
		// reason is the stall, whatever the Read returned.
		return n, s.err()
	}
	return n, err
}

func (s *stallReader) err() error {
	return fmt.Errorf("cannot read upstream body: no data for %s: %w", s.d, ErrUnavailable)
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	return s.closeBody()
}

func (s *stallReader) closeBody() error {
	s.once.Do(func() { s.cerr = s.rc.Close() })
	return s.cerr
}
