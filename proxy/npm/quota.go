package npm

import (
	"io"

	"github.com/valyala/fasthttp"

	hosted "nora/hosted/npm"
	"nora/proxy/httpx"
)

// A publish counts against the storage quota of its package's tenant
// (DESIGN 3.2 [[tenants]]) with the tarball's bytes, what hosted state
// keeps of it. The JSON body carries the tarball in base64, four
// characters for three bytes, beside at most MaxMetadata bytes of
// metadata: its Content-Length tells, before a byte is read, the fewest
// tarball bytes it can hold, and so do the bytes of a chunked body read so
// far, which is cut off once they pass; the exact count is known once the
// tarball is spooled, before anything is committed. A refusal is 403 in npm's shape,
// {"error":"tenant ... is over its storage quota of ..."}, which npm
// prints.

// tarballFloor is the fewest tarball bytes a publish body of n bytes
// carries: its base64 characters decode to three bytes per four, less at
// most two of padding.
func (h *Handler) tarballFloor(n int64) int64 {
	return max((n-h.limits.MaxMetadata)/4*3-2, 0)
}

// admitDeclared refuses a publish whose declared body length alone passes
// the quota, before reading it, and reports whether it may go on.
func (h *Handler) admitDeclared(ctx *fasthttp.RequestCtx, name string) bool {
	floor := h.tarballFloor(int64(ctx.Request.Header.ContentLength()))
	if floor <= 0 {
		return true
	}
	if err := httpx.ReserveQuota(ctx, "npm", name, 0, floor); err != nil {
		httpx.Drain(ctx)
		h.hostedError(ctx, err, name)
		return false
	}
	return true
}

// quotaBody is a publish body cut off with the quota's refusal as soon as
// the tarball its bytes so far must carry passes the quota (a chunked
// body: a declared one was checked whole by admitDeclared).
type quotaBody struct {
	ctx  *fasthttp.RequestCtx
	h    *Handler
	name string
	r    io.Reader
	read int64
	err  error
}

func (q *quotaBody) Read(p []byte) (int, error) {
	if q.err != nil {
		return 0, q.err
	}
	n, err := q.r.Read(p)
	q.read += int64(n)
	if floor := q.h.tarballFloor(q.read); floor > 0 {
		if qerr := httpx.ReserveQuota(q.ctx, "npm", q.name, 0, floor); qerr != nil {
			q.err = qerr
			return n, qerr
		}
	}
	return n, err
}

// reserveTarball refuses a spooled tarball that passes the quota, and
// then removes it: nothing of the publish remains.
func reserveTarball(ctx *fasthttp.RequestCtx, name string, a *hosted.Attachment) error {
	err := httpx.ReserveQuota(ctx, "npm", name, 0, a.Size)
	if err != nil {
		a.Discard()
	}
	return err
}
