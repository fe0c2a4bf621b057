package proxy

import (
	"io"
	"os"
	"sync"
)

// A file's log lines are written behind the replies. The access line of a
// request is written after its body and before fasthttp flushes the reply:
// a write(2) there (to a file a journal commit can hold up, or to a pipe
// or journald's socket that is full) held the reply, and on a warm
// manifest GET it was a fifth of nora's CPU. So a line is appended to
// memory and one goroutine writes what has gathered, while lines wait: one
// write(2) for many lines under load, one for each line when idle.
//
// Lines are written whole and in the order they came. Lines waiting when
// the process is killed are lost (those gathered during one write); Flush
// writes them out before a clean exit. A writer that does not keep up holds
// its callers once logBacklog bytes wait, as a direct write would.

// logBacklog is how many bytes of lines may wait for the writer.
const logBacklog = 256 << 10

// logWriter orders the lines of slog and of the access log: both handlers
// write whole lines to it.
type logWriter struct {
	w     io.Writer
	mu    sync.Mutex
	drain bool       // lines are written by a goroutine (w is a file)
	done  *sync.Cond // signalled when a write ends
	wait  []byte     // lines not yet written
	spare []byte     // the buffer of the write before, reused
	busy  bool       // the writing goroutine runs
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w}
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
	if !l.busy {
		l.busy = true
		go l.writeWaiting()
	}
	return len(p), nil
}

// writeWaiting writes the waiting lines until none wait.
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

// Flush returns once every line taken before it is written.
func (l *logWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.busy {
		l.done.Wait()
	}
}
