package proxy

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// A file's log lines are written behind the replies, together. The access
// line of a request is made after its body and before fasthttp flushes the
// reply: a write(2) there (to a file a journal commit can hold up, or to a
// pipe or journald's socket that is full) held the reply, and on a warm
// manifest GET it was a fifth of nora's CPU. So lines gather in memory and
// are written at most logDelay after the first of them, at once when
// logSoon bytes wait or a line is a warning or an error: one write(2) for
// many lines, and no thread woken per line.
//
// Lines are written whole and in the order they came. Lines waiting when
// the process is killed are lost (at most logDelay's worth of info lines);
// Flush writes them out before a clean exit. A writer that does not keep up
// holds its callers once logBacklog bytes wait, as a direct write would.

const (
	logDelay   = 10 * time.Millisecond // longest a line waits for a write
	logSoon    = 64 << 10              // bytes waiting that are written at once
	logBacklog = 256 << 10             // bytes waiting that hold the callers
)

// logWriter orders the lines of slog and of the access log: both handlers
// write whole lines to it.
type logWriter struct {
	w     io.Writer
	mu    sync.Mutex
	drain bool        // lines are gathered and written later (w is a file)
	done  *sync.Cond  // signalled when a write ends
	wait  []byte      // lines not yet written
	spare []byte      // the buffer of the write before, reused
	busy  bool        // a write runs, and goes on while lines wait
	timer *time.Timer // writes the lines delay after the first
	armed bool
	delay time.Duration // logDelay; tests set others
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, delay: logDelay}
	l.done = sync.NewCond(&l.mu)
	_, l.drain = w.(*os.File)
	return l
}

// Write takes one or more whole lines. For a file it returns before they
// are written; a write error is lost, as slog's and the access log's are.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.drain {
		return l.w.Write(p)
	}
	for len(l.wait) >= logBacklog {
		l.done.Wait()
	}
	l.wait = append(l.wait, p...)
	switch {
	case l.busy:
		// The write under way takes them next.
	case len(l.wait) >= logSoon:
		l.busy = true
		go l.writeWaiting()
	case !l.armed:
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(l.delay, l.due)
		} else {
			l.timer.Reset(l.delay)
		}
	}
	return len(p), nil
}

// due writes the lines gathered since the timer was set (on the timer's
// goroutine).
func (l *logWriter) due() {
	l.mu.Lock()
	l.armed = false
	if l.busy || len(l.wait) == 0 {
		l.mu.Unlock()
		return
	}
	l.busy = true
	l.mu.Unlock()
	l.writeWaiting()
}

// writeWaiting writes the waiting lines until none wait; l.busy is set.
func (l *logWriter) writeWaiting() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.wait) > 0 {
		out := l.wait
		l.wait, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		_, _ = l.w.Write(out)
		l.mu.Lock()
		if cap(out) <= 2*logBacklog {
			l.spare = out
		}
		l.done.Broadcast()
	}
	l.busy = false
	l.done.Broadcast()
}

// kick has the waiting lines written at once (a warning or an error came).
func (l *logWriter) kick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drain && !l.busy && len(l.wait) > 0 {
		l.busy = true
		go l.writeWaiting()
	}
}

// Flush returns once every line taken before it is written.
func (l *logWriter) Flush() {
	l.mu.Lock()
	for l.busy {
		l.done.Wait()
	}
	if len(l.wait) == 0 {
		l.mu.Unlock()
		return
	}
	l.busy = true
	l.mu.Unlock()
	l.writeWaiting()
}

// urgent is a handler derived from a LogHandler (With, WithGroup) whose
// warnings and errors are written at once.
type urgent struct {
	slog.Handler
	w *logWriter
}

func (u urgent) Handle(ctx context.Context, r slog.Record) error {
	err := u.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		u.w.kick()
	}
	return err
}

func (u urgent) WithAttrs(as []slog.Attr) slog.Handler { return urgent{u.Handler.WithAttrs(as), u.w} }
func (u urgent) WithGroup(name string) slog.Handler    { return urgent{u.Handler.WithGroup(name), u.w} }
