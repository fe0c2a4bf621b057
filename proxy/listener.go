package proxy

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// stallChunk is how many bytes one write deadline covers. A response fails
// only when less than stallChunk bytes move in StallTimeout (1 MiB in 60 s
// is ~17 KB/s), never because it is long.
const stallChunk = 1 << 20

// stallListener hands out connections whose writes are bounded by a stall
// timeout instead of a whole-response WriteTimeout: a 2 GB layer to a Pi on
// Wi-Fi may take many minutes, but a peer that stops reading is dropped. It
// also tracks open connections so Shutdown can close those still busy when
// its deadline passes.
type stallListener struct {
	net.Listener
	stall time.Duration // <= 0: no write deadline

	mu    sync.Mutex
	conns map[*stallConn]struct{}

	// fileBytes counts bytes given to the kernel by ReadFrom from an
	// *os.File, the sendfile(2) path; tests check that file bodies take it.
	fileBytes atomic.Int64
}

func newStallListener(ln net.Listener, stall time.Duration) *stallListener {
	return &stallListener{Listener: ln, stall: stall, conns: map[*stallConn]struct{}{}}
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c, l: l}
	sc.rf, _ = c.(io.ReaderFrom)
	l.mu.Lock()
	l.conns[sc] = struct{}{}
	l.mu.Unlock()
	return sc, nil
}

// closeConns closes every connection still open (the end of a Shutdown whose
// deadline passed); their serving goroutines then fail and exit.
func (l *stallListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Conn.Close()
	}
}

// stallConn is a connection whose every write, and every read of a request
// body, must make progress within the stall timeout.
type stallConn struct {
	net.Conn
	l         *stallListener
	rf        io.ReaderFrom // the underlying conn's, for sendfile/splice; may be nil
	bodyReads atomic.Bool   // a handler runs: reads are of a request body
	closeOnce sync.Once
}

func (c *stallConn) armWrite() error {
	if c.l.stall <= 0 {
		return nil
	}
	return c.Conn.SetWriteDeadline(time.Now().Add(c.l.stall))
}

func (c *stallConn) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		if err := c.armWrite(); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p[:min(len(p), stallChunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// ReadFrom keeps sendfile(2) working through the wrapper: for a file it
// calls the underlying *net.TCPConn's ReadFrom with an *io.LimitedReader
// directly over the file (net looks through exactly one), a chunk at a time,
// re-arming the write deadline before each chunk.
func (c *stallConn) ReadFrom(r io.Reader) (int64, error) {
	src, outer := r, (*io.LimitedReader)(nil)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, outer = lr.R, lr
	}
	if _, isFile := src.(*os.File); !isFile || c.rf == nil {
		// Other sources may block on their own (a fill waiting for its
		// upstream): copy through Write, which arms the deadline right
		// before each write, so a slow source never counts as a stalled
		// peer.
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	var total int64
	for {
		n := int64(stallChunk)
		if outer != nil {
			n = min(n, outer.N)
		}
		if n <= 0 {
			return total, nil
		}
		if err := c.armWrite(); err != nil {
			return total, err
		}
		chunk := io.LimitedReader{R: src, N: n}
		m, err := c.rf.ReadFrom(&chunk)
		total += m
		if outer != nil {
			outer.N -= m
		}
		c.l.fileBytes.Add(m)
		if err != nil || m < n { // m < n: the file ended
			return total, err
		}
	}
}

// Read bounds request body reads by the stall timeout. fasthttp's
// ReadTimeout covers the whole request, body included; the config promises
// it bounds the headers only, and an upload of a large layer must not be cut
// for being long.
func (c *stallConn) Read(p []byte) (int, error) {
	if c.bodyReads.Load() && c.l.stall > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.stall)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// handlerRunning switches Read between fasthttp's deadlines (headers, idle)
// and per-read stall deadlines (a handler reading the body).
func (c *stallConn) handlerRunning(on bool) {
	if on && c.l.stall <= 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	c.bodyReads.Store(on)
}

func (c *stallConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
