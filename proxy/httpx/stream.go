package httpx

import (
	"io"
	"os"

	"github.com/valyala/fasthttp"
)

// SetBodyStream is ctx.SetBodyStream for format handlers: r is the response
// body, size its length (< 0: unknown, sent chunked). r is closed once the
// response is written if it is an io.Closer. Unlike a bare
// ctx.SetBodyStream, the access log then reports the bytes really sent, the
// time until the last one, and why a transfer broke off.
//
// A body whose Read fails before size bytes (or, chunked, before io.EOF)
// makes fasthttp close the connection: the client sees a truncated response,
// never a clean end. Pass an *os.File (or an io.LimitedReader over one)
// unwrapped to keep sendfile(2).
func SetBodyStream(ctx *fasthttp.RequestCtx, r io.Reader, size int64) {
	st := &stream{r: r}
	if c, ok := r.(io.Closer); ok {
		st.closer = c
	}
	setStream(ctx, st, size)
}

func setStream(ctx *fasthttp.RequestCtx, st *stream, size int64) {
	if size < 0 {
		size = -1 // -2 would mean "until close", which hides a truncation
	}
	ctx.Response.SetBodyStream(st, int(size))
	info(ctx, true).stream = st
}

// OnStreamDone arranges for fn to run once, when the body set by
// SetBodyStream or ServeContent has been written or abandoned: sent counts
// the body bytes handed to the connection, err says why the transfer stopped
// early (nil when it completed, or for HEAD). It reports false and never calls
// fn when the response body is not such a stream. The server's access log
// uses it; handlers have no need to.
func OnStreamDone(ctx *fasthttp.RequestCtx, fn func(sent int64, err error)) bool {
	ri := info(ctx, false)
	if ri == nil || ri.stream == nil || ri.stream.closed || ctx.Response.BodyStream() != io.Reader(ri.stream) {
		return false
	}
	ri.stream.done = fn
	return true
}

// stream is a response body that counts what it hands out, closes its
// source, and reports the end of the transfer. fasthttp reads it on the
// connection's goroutine only, so it needs no locking.
type stream struct {
	r      io.Reader // an *os.File, an *io.LimitedReader over one, or any reader
	closer io.Closer
	sent   int64
	err    error // sticky: see Read
	closed bool
	done   func(sent int64, err error)
}

// Read keeps an error that came with data for the next call: fasthttp's
// chunked writer drops the error of a Read that returned bytes, and must see
// it to cut the connection instead of sending the last chunk.
func (s *stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.sent += int64(n)
	if err != nil && n > 0 {
		s.err = err
		err = nil
	}
	return n, err
}

// WriteTo hands the source itself to w's ReadFrom, so that fasthttp's writer
// and then the connection see an *os.File (sendfile) rather than this
// wrapper. A source that is not a file but knows how to send itself (a
// cache fill that becomes a file once committed) gets w instead. fasthttp
// uses WriteTo for bodies of known size.
func (s *stream) WriteTo(w io.Writer) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	var n int64
	var err error
	wt, sendsItself := s.r.(io.WriterTo)
	switch s.r.(type) {
	case *os.File, *io.LimitedReader:
		sendsItself = false
	}
	if rf, ok := w.(io.ReaderFrom); ok && !sendsItself {
		n, err = rf.ReadFrom(s.r)
	} else if sendsItself {
		n, err = wt.WriteTo(w)
	} else {
		n, err = io.Copy(w, struct{ io.Reader }{s.r})
	}
	s.sent += n
	return n, err
}

// CloseWithError is called by fasthttp once the body is written or dropped,
// with the write error if any (fasthttp.ReadCloserWithError). There is
// deliberately no Close method: fasthttp would call it first, without the
// error.
func (s *stream) CloseWithError(werr error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.closer != nil {
		err = s.closer.Close()
	}
	if s.done != nil {
		s.done(s.sent, werr)
	}
	return err
}
