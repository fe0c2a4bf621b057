package pull

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// resumeTries bounds how often one fill asks the upstream again for the
// rest of a body that broke off.
const resumeTries = 3

// resumingBody is an upstream artifact body that, cut mid-way (a reset
// connection, an end before its Content-Length: a lossy link), asks the
// upstream for the rest with Range and goes on: the fill sees one body,
// and checks the whole against its digest as ever. A part is taken only
// as the answer to what was asked (206, starting where the cut was, of
// the same length, and of the same version when the first answer named
// one: If-Range); else the cut stands.
type resumingBody struct {
	ctx   context.Context
	body  io.ReadCloser
	n     int64 // bytes read so far
	size  int64 // the whole body's length; -1 unknown
	etag  string
	open  func(ctx context.Context, hdr http.Header) (*http.Response, error)
	wrap  func(io.ReadCloser) io.ReadCloser // around each part (the stall bound)
	tries int
}

func newResumingBody(ctx context.Context, resp *http.Response, open func(context.Context, http.Header) (*http.Response, error), wrap func(io.ReadCloser) io.ReadCloser) *resumingBody {
	etag := resp.Header.Get("ETag")
	if strings.HasPrefix(etag, "W/") {
		etag = "" // If-Range takes a strong validator only
	}
	return &resumingBody{ctx: ctx, body: wrap(resp.Body), size: resp.ContentLength, etag: etag, open: open, wrap: wrap}
}

func (r *resumingBody) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.n += int64(n)
	if err == nil || errors.Is(err, io.EOF) || r.ctx.Err() != nil || r.tries >= resumeTries {
		return n, err
	}
	if rest := r.resume(); rest != nil {
		r.body.Close()
		r.body = rest
		return n, nil
	}
	return n, err
}

// resume asks for the bytes from r.n on; nil if the upstream did not
// answer with exactly those.
func (r *resumingBody) resume() io.ReadCloser {
	r.tries++
	hdr := identity.Clone()
	want := "bytes=" + strconv.FormatInt(r.n, 10) + "-"
	if r.size >= 0 {
		// The end named too: some registries take no open range.
		want += strconv.FormatInt(r.size-1, 10)
	}
	hdr.Set("Range", want)
	if r.etag != "" {
		hdr.Set("If-Range", r.etag)
	}
	resp, err := r.open(r.ctx, hdr)
	if err != nil {
		return nil
	}
	if resp.StatusCode != http.StatusPartialContent || !rangeFrom(resp.Header.Get("Content-Range"), r.n, r.size) {
		resp.Body.Close()
		return nil
	}
	return r.wrap(resp.Body)
}

func (r *resumingBody) Close() error { return r.body.Close() }

// rangeFrom reports whether a Content-Range ("bytes 100-199/200") starts
// at from and runs to the end of a body of size bytes (size -1: unknown,
// any total).
func rangeFrom(cr string, from, size int64) bool {
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return false
	}
	span, total, ok := strings.Cut(spec, "/")
	if !ok {
		return false
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start != from || end < start {
		return false
	}
	if size < 0 {
		return total == "*" || total == strconv.FormatInt(end+1, 10)
	}
	return total == strconv.FormatInt(size, 10) && end == size-1
}
