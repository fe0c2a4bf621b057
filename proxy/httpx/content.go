package httpx

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"
)

// ErrUnsatisfiable is what ParseRange returns for a range that lies outside
// the object: the answer is 416 with "Content-Range: bytes */size".
var ErrUnsatisfiable = errors.New("range not satisfiable")

// ParseRange parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range
// against an object of size bytes. ok=false with a nil error means there is
// no usable range (absent, another unit, malformed, or several ranges): serve
// the whole object with 200. err != nil (always ErrUnsatisfiable) means the
// range is unsatisfiable. When ok, 0 <= start < size and
// 1 <= length <= size-start.
func ParseRange(header []byte, size int64) (start, length int64, ok bool, err error) {
	const unit = "bytes="
	if size < 0 || len(header) < len(unit) || !bytes.EqualFold(header[:len(unit)], []byte(unit)) {
		return 0, 0, false, nil
	}
	spec := trimOWS(header[len(unit):])
	// Multiple ranges would need multipart/byteranges; no registry client
	// asks for them, and RFC 9110 lets a server answer 200 instead.
	if bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, false, nil
	}
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return 0, 0, false, nil
	}
	first, last := trimOWS(spec[:dash]), trimOWS(spec[dash+1:])
	if len(first) == 0 {
		n, valid := parseDigits(last)
		if !valid {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, ErrUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, valid := parseDigits(first)
	if !valid {
		return 0, 0, false, nil
	}
	b := int64(-1)
	if len(last) > 0 {
		if b, valid = parseDigits(last); !valid || b < a {
			return 0, 0, false, nil
		}
	}
	if a >= size {
		return 0, 0, false, ErrUnsatisfiable
	}
	if b < 0 || b >= size {
		b = size - 1
	}
	return a, b - a + 1, true, nil
}

// parseDigits parses a non-empty run of ASCII digits, saturating at
// math.MaxInt64 (a huge first-byte-pos is unsatisfiable, a huge
// last-byte-pos means "to the end").
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	return bytes.Trim(b, " \t")
}

// Sectioner is a body that serves a range itself rather than by Seek and
// a count: an object still arriving (a cache fill in progress) holds the
// range's last byte back until the whole object is verified, so a 206 never
// ends cleanly on bytes that turn out to be wrong. The reader returned is
// read instead of the body, which is still what gets closed.
type Sectioner interface {
	Section(start, length int64) (io.Reader, error)
}

// ServeContent answers with an immutable object: status 200 (or 206/416 for
// a Range), Content-Length, Content-Type (application/octet-stream when
// contentType is ""). Ranges are honoured, and Accept-Ranges: bytes sent,
// only when the size is known and body is an io.Seeker or a Sectioner. size < 0 means
// unknown: the body goes out chunked. A HEAD request gets the same headers
// and no body. body is always closed, once the response is written (or at
// once for HEAD and errors).
//
// An *os.File body leaves by sendfile(2), ranges too: the file (or an
// io.LimitedReader over it) is what fasthttp hands to the connection.
// Headers the caller set before (ETag, Docker-Content-Digest) are kept.
func ServeContent(ctx *fasthttp.RequestCtx, body io.ReadCloser, size int64, contentType string) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h := &ctx.Response.Header
	h.SetContentType(contentType)
	if size < 0 {
		ctx.SetStatusCode(fasthttp.StatusOK)
		if ctx.IsHead() {
			_ = body.Close()
			h.SetContentLength(-1)
			return
		}
		setStream(ctx, &stream{r: body, closer: body}, -1)
		return
	}

	status, start, length := fasthttp.StatusOK, int64(0), size
	seeker, seekable := body.(io.Seeker)
	sectioner, sectioned := body.(Sectioner)
	if seekable || sectioned {
		h.Set(fasthttp.HeaderAcceptRanges, "bytes")
		if rng := ctx.Request.Header.Peek(fasthttp.HeaderRange); len(rng) > 0 && ifRangeHolds(ctx) {
			s, l, ok, err := ParseRange(rng, size)
			if err != nil {
				_ = body.Close()
				h.Set(fasthttp.HeaderContentRange, "bytes */"+strconv.FormatInt(size, 10))
				ctx.Response.ResetBody()
				ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
				return
			}
			if ok {
				status, start, length = fasthttp.StatusPartialContent, s, l
				h.Set(fasthttp.HeaderContentRange, "bytes "+strconv.FormatInt(start, 10)+"-"+
					strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(size, 10))
			}
		}
	}
	ctx.SetStatusCode(status)
	if ctx.IsHead() {
		_ = body.Close()
		ctx.Response.ResetBody()
		h.SetContentLength(int(length))
		return
	}
	var r io.Reader = body
	if status == fasthttp.StatusPartialContent {
		var err error
		if r, err = section(body, seeker, sectioner, start, length); err != nil {
			_ = body.Close()
			h.Del(fasthttp.HeaderContentRange)
			ctx.Error("cannot seek in object", fasthttp.StatusInternalServerError)
			return
		}
	}
	setStream(ctx, &stream{r: r, closer: body}, length)
}

// section is the reader of length bytes of body from start.
func section(body io.Reader, seeker io.Seeker, sectioner Sectioner, start, length int64) (io.Reader, error) {
	if sectioner != nil {
		return sectioner.Section(start, length)
	}
	if _, err := seeker.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	// One io.LimitedReader directly over the file: the shape
	// net.TCPConn.ReadFrom turns into sendfile(2).
	return &io.LimitedReader{R: body, N: length}, nil
}

// ifRangeHolds reports whether a Range may be honoured under the request's
// If-Range: absent, or equal to the ETag or Last-Modified the caller set.
// Anything else may name another version, so the whole object is sent.
func ifRangeHolds(ctx *fasthttp.RequestCtx) bool {
	ir := ctx.Request.Header.Peek(fasthttp.HeaderIfRange)
	if len(ir) == 0 {
		return true
	}
	if etag := ctx.Response.Header.Peek(fasthttp.HeaderETag); len(etag) > 0 &&
		!bytes.HasPrefix(ir, []byte("W/")) && bytes.Equal(ir, etag) {
		return true
	}
	lm := ctx.Response.Header.Peek(fasthttp.HeaderLastModified)
	return len(lm) > 0 && bytes.Equal(ir, lm)
}
