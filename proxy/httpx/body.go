package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Bodies is the server's limit on request bodies that handlers read into
// memory with ReadBody: at most max of them at once, each within timeout.
// Without it, anonymous clients that each send a few MiB of an npm audit
// and then stall hold all that memory for as long as they like. The server
// attaches it to every request that has a body; handlers never see it.
type Bodies struct {
	slots   chan struct{} // nil: no cap
	timeout time.Duration // <= 0: none
}

// NewBodies returns a limit of max bodies at once (<= 0: no cap), each to
// be read (or drained, when refused) within timeout (<= 0: no deadline).
func NewBodies(max int, timeout time.Duration) *Bodies {
	b := &Bodies{timeout: timeout}
	if max > 0 {
		b.slots = make(chan struct{}, max)
	}
	return b
}

// busyRetryAfter is the Retry-After of a body refused because every slot
// is taken: a legitimate body holds one for a moment.
const busyRetryAfter = "2"

// Attach makes ReadBody and Drain of this request obey b, and makes a body
// that ends before its Content-Length an error (io.ErrUnexpectedEOF) for
// every handler: fasthttp reports a client that went away one byte short
// as a clean io.EOF. The server calls it before the handler of each
// request with a body, and FinishBody after it.
func (b *Bodies) Attach(ctx *fasthttp.RequestCtx) {
	info(ctx, true).bodies = b
	r := ctx.RequestBodyStream()
	if r == nil {
		return
	}
	n := ctx.Request.Header.ContentLength()
	if n < 0 {
		n = -1 // chunked: fasthttp checks that framing itself
	}
	ctx.Request.SetBodyStream(&strictBody{r: r, left: int64(n)}, n)
}

// releaseSlot gives back the slot ReadBody took, if it holds one.
func releaseSlot(ri *requestInfo) {
	if ri.bodySlot {
		<-ri.bodies.slots
		ri.bodySlot = false
	}
}

// FinishBody releases the slot ReadBody took for this request. After a
// refusal for lack of slots it adds Retry-After and closes the connection
// (the unread body is not worth reading); it runs after the handler because
// the formats' error writers reset the response headers.
func FinishBody(ctx *fasthttp.RequestCtx) {
	ri := info(ctx, false)
	if ri == nil || ri.bodies == nil {
		return
	}
	releaseSlot(ri)
	if ri.bodyBusy {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, busyRetryAfter)
		ctx.SetConnectionClose()
	}
}

// strictBody turns the end of a body shorter than its Content-Length into
// io.ErrUnexpectedEOF, so that no handler takes it for the whole body.
type strictBody struct {
	r    io.Reader
	left int64 // bytes still due; < 0: chunked
}

func (s *strictBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.left >= 0 {
		s.left -= int64(n)
		if err == io.EOF && s.left > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

// bodyError is an error of ReadBody, with the status to answer it with.
type bodyError struct {
	status int
	msg    string
	err    error
}

func (e *bodyError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *bodyError) Unwrap() error { return e.err }

// BodyStatus is the HTTP status that answers an error of ReadBody: 413 for
// a body over the limit, 503 when too many bodies are being read (the
// server adds Retry-After), 408 for a body too slow to arrive, 400 for one
// that broke off or ended before its Content-Length. Handlers answer it in
// their format's error shape, with err.Error() as the message (it names no
// path).
func BodyStatus(err error) int {
	var be *bodyError
	if errors.As(err, &be) {
		return be.status
	}
	return fasthttp.StatusBadRequest
}

// ReadBody reads the whole request body into memory: at most limit bytes,
// else an error with status 413 (after draining what Drain would, so that
// a client just over the limit reads the answer). Under the server's
// Bodies it first takes one of the few slots for bodies in memory (none
// free: status 503) and must arrive within the Bodies timeout. It holds
// only the bytes that arrived: a client that declares 4 MiB and stalls
// costs what it sent.
func ReadBody(ctx *fasthttp.RequestCtx, limit int64) ([]byte, error) {
	tooLarge := func() ([]byte, error) {
		Drain(ctx)
		return nil, &bodyError{status: fasthttp.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the request body is larger than %d bytes", limit)}
	}
	r := ctx.RequestBodyStream()
	if r == nil { // a server that read the body whole before the handler
		b := ctx.Request.Body()
		if int64(len(b)) > limit {
			return tooLarge()
		}
		return b, nil
	}
	declared := int64(ctx.Request.Header.ContentLength())
	if declared == 0 {
		return nil, nil
	}
	if declared > limit {
		return tooLarge()
	}
	if ri := info(ctx, false); ri != nil && ri.bodies != nil {
		b := ri.bodies
		if b.slots != nil && !ri.bodySlot {
			select {
			case b.slots <- struct{}{}:
				// The slot bounds the bodies being received (a client
				// that sends half and stalls holds that memory); a body
				// read whole leaves it to the next while its handler
				// stores it (a durable commit: its syncs are not the
				// client's to hold a slot for).
				ri.bodySlot = true
				defer releaseSlot(ri)
			default:
				ri.bodyBusy = true
				return nil, &bodyError{status: fasthttp.StatusServiceUnavailable,
					msg: "too many request bodies are being received at once; retry shortly"}
			}
		}
		if b.timeout > 0 {
			setBodyDeadline(ctx, time.Now().Add(b.timeout))
		}
	}
	upTo := limit
	if declared > 0 {
		upTo = declared // the stream ends there, or errs
	}
	buf, err := readUpTo(r, upTo)
	switch {
	case err == nil && int64(len(buf)) > limit:
		return tooLarge()
	case err == nil && declared > 0 && int64(len(buf)) < declared:
		err = io.ErrUnexpectedEOF // not under Attach: a plain stream
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &bodyError{status: fasthttp.StatusRequestTimeout, msg: "the request body came too slowly", err: err}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &bodyError{status: fasthttp.StatusBadRequest,
				msg: "the request body broke off", err: err}
		}
		return nil, &bodyError{status: fasthttp.StatusBadRequest, msg: "cannot read the request body", err: err}
	}
	return buf, nil
}

// readUpTo reads r to its end or to limit+1 bytes, whichever comes first.
// It holds what arrived in chunks, and joins them only at the end: a body
// held half-sent costs what was sent, with no slack of a growing buffer and
// no garbage of the buffers it outgrew.
func readUpTo(r io.Reader, limit int64) ([]byte, error) {
	const chunk = 64 << 10
	var full [][]byte
	var total int64
	cur := make([]byte, 0, min(chunk, limit+1))
	for {
		if len(cur) == cap(cur) {
			if total > limit {
				break
			}
			full = append(full, cur)
			cur = make([]byte, 0, min(chunk, limit+1-total))
		}
		n, err := r.Read(cur[len(cur):cap(cur)])
		cur = cur[:len(cur)+n]
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(full) == 0 {
		return cur, nil
	}
	b := make([]byte, 0, total)
	for _, c := range full {
		b = append(b, c...)
	}
	return append(b, cur...), nil
}

// bodyDeadliner is the server's connection: its body reads fail after the
// deadline given, for the current request only.
type bodyDeadliner interface{ SetBodyDeadline(time.Time) }

func setBodyDeadline(ctx *fasthttp.RequestCtx, t time.Time) {
	if c, ok := ctx.Conn().(bodyDeadliner); ok {
		c.SetBodyDeadline(t)
	}
}

// BodyReader is the request body as a stream: with StreamRequestBody,
// fasthttp hands large bodies to the handler unread and small ones read.
func BodyReader(ctx *fasthttp.RequestCtx) io.Reader {
	if r := ctx.RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(ctx.Request.Body())
}
