package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
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
// Wi-Fi may take many minutes, but a peer that stops reading is dropped.
// Request bodies get the same stall rule and a minimum average rate (see
// bodyRules). It also tracks open connections so Shutdown can close those
// still busy when its deadline passes.
type stallListener struct {
	net.Listener
	stall time.Duration // <= 0: no write deadline
	body  bodyRules

	mu    sync.Mutex
	conns map[*stallConn]struct{}

	// perIP caps the connections of one peer address (0: none), so that
	// one client holding connections open (slowloris) cannot take all of
	// max_conns; ips counts them, under mu. refuseHTTP: a refused peer is
	// told so in plain HTTP (a TLS one is only closed).
	perIP      int
	refuseHTTP bool
	ips        map[netip.Addr]int

	// fileBytes counts bytes given to the kernel by ReadFrom from an
	// *os.File, the sendfile(2) path; tests check that file bodies take it.
	fileBytes atomic.Int64
}

// bodyRules bound how long a client may take to send a request body. A
// stall alone is not enough: a byte every few seconds resets any stall
// timer, and holds a connection (and whatever the handler buffered) for
// ever. So the body must also average minRate bytes per second of waiting
// for it, once grace has passed. Only time spent blocked on the client
// counts: a handler that pauses between reads (writing to a slow disk) does
// not make its client look slow.
type bodyRules struct {
	stall   time.Duration // no byte for this long; <= 0: no limit
	minRate int64         // bytes per second; <= 0: no minimum
	grace   time.Duration
}

func newStallListener(ln net.Listener, stall time.Duration, body bodyRules) *stallListener {
	body.stall = stall
	return &stallListener{Listener: ln, stall: stall, body: body, conns: map[*stallConn]struct{}{}}
}

func (l *stallListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		sc := &stallConn{Conn: c, l: l}
		if l.perIP > 0 {
			sc.ip = peerIP(c)
		}
		sc.rf, _ = c.(io.ReaderFrom)
		l.mu.Lock()
		if sc.ip.IsValid() && l.ips[sc.ip] >= l.perIP {
			l.mu.Unlock()
			l.refuse(c)
			continue
		}
		l.conns[sc] = struct{}{}
		if sc.ip.IsValid() {
			if l.ips == nil {
				l.ips = map[netip.Addr]int{}
			}
			l.ips[sc.ip]++
		}
		l.mu.Unlock()
		return sc, nil
	}
}

// tooManyConns is the answer to a connection over max_conns_per_ip.
const tooManyConns = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 2\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 46\r\n\r\n" +
	"too many connections from this client address\n"

// refuse closes a connection over perIP, first answering 429 on a plain
// listener. The write goes into a fresh socket's empty buffer; its
// deadline only keeps a broken peer from holding up the accept loop.
func (l *stallListener) refuse(c net.Conn) {
	if l.refuseHTTP {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, tooManyConns)
	}
	_ = c.Close()
}

func peerIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
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
// body, must make progress within the stall timeout; body reads also obey
// the listener's bodyRules and a handler's SetBodyDeadline.
type stallConn struct {
	net.Conn
	l         *stallListener
	rf        io.ReaderFrom // the underlying conn's, for sendfile/splice; may be nil
	ip        netip.Addr    // counted in l.ips; zero: not counted
	closeOnce sync.Once

	// A handler may read the body from another goroutine than the
	// connection's (a client that streams it upstream), hence the lock.
	mu   sync.Mutex
	body bodyState

	// underTLS: body bytes are counted by tlsConn as they are decrypted,
	// not here, where a client's one-byte records would count for the
	// ~22 bytes each takes on the wire. Set before the conn is used.
	underTLS bool

	// first is the connection's first byte plus one (0: none yet): a
	// TLS hello on a plain port is named in the log (tlsHello).
	first atomic.Uint32
}

// recordHandshake is the first byte of a TLS ClientHello record.
const recordHandshake = 0x16

// tlsHello reports whether the client opened with a TLS handshake.
func (c *stallConn) tlsHello() bool { return c.first.Load() == recordHandshake+1 }

func (c *stallConn) noteFirst(p []byte, n int) {
	if n > 0 && c.first.Load() == 0 {
		c.first.Store(uint32(p[0]) + 1)
	}
}

// bodyState is the progress of the request body being read.
type bodyState struct {
	on       bool          // a handler runs: reads are of a request body
	n        int64         // bytes read from the connection
	waited   time.Duration // time spent blocked in those reads
	deadline time.Time     // set by SetBodyDeadline; zero: none
}

// bodyLimit names the rule whose deadline a body read was armed with.
type bodyLimit int

const (
	limitNone bodyLimit = iota
	limitStall
	limitRate
	limitTotal
)

// bodyTimeout is the error of a body read cut by a bodyLimit. It is a
// net.Error whose Timeout is true, and it wraps os.ErrDeadlineExceeded.
type bodyTimeout struct {
	limit bodyLimit
	rules bodyRules
}

func (e *bodyTimeout) Error() string {
	switch e.limit {
	case limitRate:
		return fmt.Sprintf("request body slower than %d bytes/s on average", e.rules.minRate)
	case limitTotal:
		return "request body did not arrive within its deadline"
	default:
		return fmt.Sprintf("no byte of the request body for %v", e.rules.stall)
	}
}

func (e *bodyTimeout) Timeout() bool   { return true }
func (e *bodyTimeout) Temporary() bool { return false }
func (e *bodyTimeout) Unwrap() error   { return os.ErrDeadlineExceeded }

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
// directly over the file (net looks through exactly one), for all of it at
// once: the write deadline is a window, and when it passes with at least
// stallChunk bytes sent in it, a new window starts and the file goes on
// from where it stopped, instead of a deadline and a pass through net's
// sendfile set-up per MiB. A peer that stops reading is dropped within
// twice the stall timeout (the window it stopped in moved enough).
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
		n := int64(math.MaxInt64)
		if outer != nil {
			n = outer.N
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
		if err != nil && m >= stallChunk && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // a window that moved enough: the next one
		}
		if err != nil || m < n { // m < n: the file ended
			return total, err
		}
	}
}

// Read bounds request body reads by the body rules. fasthttp's ReadTimeout
// covers the whole request, body included; the config promises it bounds
// the headers only, and an upload of a large layer must not be cut for
// being long, only for being slow.
func (c *stallConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if !c.body.on {
		c.mu.Unlock()
		n, err := c.Conn.Read(p)
		c.noteFirst(p, n)
		return n, err
	}
	start := time.Now()
	dl, limit := c.bodyDeadlineLocked(start)
	c.mu.Unlock()
	if limit != limitNone {
		if !dl.After(start) {
			return 0, &bodyTimeout{limit, c.l.body}
		}
		if err := c.Conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if !c.underTLS {
		c.body.n += int64(n)
	}
	c.body.waited += time.Since(start)
	c.mu.Unlock()
	if err != nil && limit != limitNone && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &bodyTimeout{limit, c.l.body}
	}
	return n, err
}

// bodyDeadlineLocked returns the earliest deadline the body rules set for
// the next read starting at now, and which rule sets it.
func (c *stallConn) bodyDeadlineLocked(now time.Time) (time.Time, bodyLimit) {
	var dl time.Time
	limit := limitNone
	earlier := func(t time.Time, l bodyLimit) {
		if limit == limitNone || t.Before(dl) {
			dl, limit = t, l
		}
	}
	r := c.l.body
	if r.stall > 0 {
		earlier(now.Add(r.stall), limitStall)
	}
	if r.minRate > 0 {
		// The client may have waited grace plus the time its bytes are
		// worth at minRate; the next byte must come before that runs out.
		// (Capped at a year: a Duration overflows at 292.)
		worth := min(float64(c.body.n)/float64(r.minRate), 365*24*3600)
		earned := r.grace + time.Duration(worth*float64(time.Second))
		earlier(now.Add(earned-c.body.waited), limitRate)
	}
	if !c.body.deadline.IsZero() {
		earlier(c.body.deadline, limitTotal)
	}
	return dl, limit
}

// countBody adds n decrypted bytes to the request body read (TLS).
func (c *stallConn) countBody(n int) {
	c.mu.Lock()
	if c.body.on {
		c.body.n += int64(n)
	}
	c.mu.Unlock()
}

// SetBodyDeadline makes the body reads of the current request fail at t
// (httpx.ReadBody and Drain use it); the next request starts without one.
func (c *stallConn) SetBodyDeadline(t time.Time) {
	c.mu.Lock()
	c.body.deadline = t
	c.mu.Unlock()
}

// handlerRunning switches Read between fasthttp's deadlines (headers, idle)
// and the body rules (a handler reading the body), and starts the body
// rules afresh for each request.
func (c *stallConn) handlerRunning(on bool) {
	r := c.l.body
	if on && r.stall <= 0 && r.minRate <= 0 {
		// No rule arms a deadline before each read: drop the header one.
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	c.mu.Lock()
	c.body = bodyState{on: on}
	c.mu.Unlock()
}

func (c *stallConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if c.ip.IsValid() {
			if c.l.ips[c.ip]--; c.l.ips[c.ip] <= 0 {
				delete(c.l.ips, c.ip)
			}
		}
		c.l.mu.Unlock()
	})
	return err
}

// tlsListener speaks TLS over a stallListener's connections, so the stall
// and body rules keep bounding the bytes on the wire.
type tlsListener struct {
	*stallListener
	cfg *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.stallListener.Accept()
	if err != nil {
		return nil, err
	}
	sc := c.(*stallConn)
	sc.underTLS = true
	return &tlsConn{Conn: tls.Server(sc, l.cfg), sc: sc}, nil
}

// tlsConn is a TLS connection whose request body hooks (SetBodyDeadline,
// handlerRunning) reach the stallConn under it. fasthttp sees a *tls.Conn
// inside, so ctx.IsTLS() is true and links are written with https.
type tlsConn struct {
	*tls.Conn
	sc *stallConn
}

func (c *tlsConn) SetBodyDeadline(t time.Time) { c.sc.SetBodyDeadline(t) }

// plainToTLS is the answer to a plain HTTP request on the TLS port, as
// net/http gives it: without it the client sees its connection closed.
const plainToTLS = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"Client sent an HTTP request to an HTTPS server: use https://\n"

// Read completes the handshake first (under fasthttp's read deadline), so
// that a client speaking plain HTTP gets a readable 400.
func (c *tlsConn) Read(p []byte) (int, error) {
	if err := c.Conn.Handshake(); err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && plainHTTP(rh.RecordHeader[:]) {
			_ = rh.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(rh.Conn, plainToTLS)
			_ = rh.Conn.Close()
		}
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.sc.countBody(n)
	return n, err
}

// plainHTTP reports whether a record header is the start of an HTTP
// request line (a method in capitals).
func plainHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "HEAD", "POST", "PUT ", "DELE", "PATC", "OPTI", "CONN"} {
		if string(b[:min(len(b), 4)]) == m {
			return true
		}
	}
	return false
}

// connStall finds the stallConn under a plain or TLS connection.
func connStall(c net.Conn) *stallConn {
	switch c := c.(type) {
	case *stallConn:
		return c
	case *tlsConn:
		return c.sc
	}
	return nil
}
