package npm

import (
	"github.com/valyala/fasthttp"

	hosted "nora/hosted/npm"
	"nora/proxy/httpx"
)

// A publish counts against the storage quota of its package's tenant
// (DESIGN 3.2 [[tenants]]) with the tarball's bytes, what hosted state
// keeps of it. The JSON body carries the tarball in base64, four
// characters for three bytes, beside at most MaxMetadata bytes of
// metadata: its Content-Length tells, before a byte is read, the fewest
// tarball bytes it can hold; the exact count is known once the tarball is
// spooled, before anything is committed. A refusal is 403 in npm's shape,
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

// reserveTarball refuses a spooled tarball that passes the quota, and
// then removes it: nothing of the publish remains.
func reserveTarball(ctx *fasthttp.RequestCtx, name string, a *hosted.Attachment) error {
	err := httpx.ReserveQuota(ctx, "npm", name, 0, a.Size)
	if err != nil {
		a.Discard()
	}
	return err
}
