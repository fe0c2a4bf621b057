package docker

import (
	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
)

// delete implements DELETE of a tag, a manifest by digest (with its tags
// and referrer entry) or a blob link: 202 when done.
func (h *Handler) delete(ctx *fasthttp.RequestCtx, req request) {
	var err error
	d, derr := parseDigest(req.ref)
	switch {
	case req.kind == "blobs" && derr != nil:
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return
	case req.kind == "blobs":
		err = h.hosted.DeleteBlob(req.name, d)
	case derr == nil:
		err = h.hosted.DeleteManifest(req.name, d)
	case validTag(req.ref):
		err = h.hosted.DeleteTag(req.name, req.ref)
	default:
		ociError(ctx, codeManifestUnknown, "invalid tag or digest")
		return
	}
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	if req.kind != "blobs" { // a blob link is no content a subscriber knows of
		httpx.SetEvent(ctx, httpx.EventDelete, req.ref, string(d), 0)
	}
	ctx.SetStatusCode(fasthttp.StatusAccepted)
}
