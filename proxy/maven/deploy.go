package maven

import (
	"context"
	"fmt"
	"path"

	"github.com/valyala/fasthttp"

	"nora/auth"
	hosted "nora/hosted/maven"
	"nora/proxy/httpx"
)

// deploy implements PUT of a repository path, what `mvn deploy` sends for
// each file: the artifact files, then a checksum file of each, then
// maven-metadata.xml and its checksums.
//
//   - A file streams into hosted state (capped by max_upload_size). The
//     first deploy to a groupId/artifactId makes it hosted, even if nora
//     proxied it until then (see hosted.Registry). Answers 201, or 200 for the
//     same bytes again; 409 for other bytes under a name that exists.
//   - A checksum file is checked against the stored file: 200 on a match;
//     400 on a mismatch, and the file is discarded unless an earlier
//     checksum had confirmed it (hosted.Registry.Confirm).
//   - maven-metadata.xml is parsed and answered 200 (clients need a 2xx),
//     but nora serves metadata it generates from what it holds; only a
//     plugin group's prefix mappings are taken from it. Its checksum files
//     are accepted and dropped.
func (h *Handler) deploy(ctx *fasthttp.RequestCtx, c context.Context, req request) {
	id, ok := h.authorize(ctx, auth.Push, req.coordinate())
	if !ok {
		return
	}
	user := ""
	if id != nil {
		user = id.Name
	}
	switch {
	case req.isMetadata() && req.sum != "":
		if _, ok := h.readSmall(ctx, maxSumBytes); ok {
			plainText(ctx, fasthttp.StatusOK, "accepted; nora serves checksums of the metadata it generates")
		}
	case req.isMetadata():
		b, ok := h.readSmall(ctx, hosted.MaxMetadataBytes)
		if !ok {
			return
		}
		if err := h.hosted.PutMetadata(c, path.Dir(req.file), b); err != nil {
			h.hostedFail(ctx, req, err)
			return
		}
		plainText(ctx, fasthttp.StatusOK, "accepted; nora serves the metadata it generates from the deployed files")
	case req.kind == kindDoc:
		plainError(ctx, fasthttp.StatusBadRequest, path.Base(req.file)+
			" is a non-unique SNAPSHOT name: deploy timestamped (unique) snapshots, as Maven 3 and Gradle do")
	case req.sum != "":
		b, ok := h.readSmall(ctx, maxSumBytes)
		if !ok {
			return
		}
		sum, err := parseChecksum(b, req.sum)
		if err != nil {
			plainError(ctx, fasthttp.StatusBadRequest, "invalid checksum file: "+err.Error())
			return
		}
		if err := h.hosted.Confirm(c, req.coord(), req.sum, sum); err != nil {
			h.hostedFail(ctx, req, err)
			return
		}
		plainText(ctx, fasthttp.StatusOK, "checksum matches")
	default:
		h.deployFile(ctx, req, user)
	}
}

// readSmall reads a body of at most limit bytes. ok is false when the
// answer was written (413, or a body that broke off).
func (h *Handler) readSmall(ctx *fasthttp.RequestCtx, limit int64) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		plainError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", limit))
		ctx.SetConnectionClose() // do not read the rest
		return nil, false
	}
	declared := int64(ctx.Request.Header.ContentLength())
	if declared > limit {
		return tooLarge()
	}
	b, err := httpx.ReadBody(ctx, limit)
	switch status := httpx.BodyStatus(err); {
	case err != nil && status == fasthttp.StatusRequestEntityTooLarge:
		return tooLarge()
	case err != nil:
		plainError(ctx, status, err.Error())
		return nil, false
	case declared >= 0 && int64(len(b)) != declared:
		plainError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("body has %d bytes, Content-Length says %d", len(b), declared))
		return nil, false
	}
	return b, true
}

// plainText answers a successful write with a short plain-text body.
func plainText(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}
