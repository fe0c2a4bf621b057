package docker

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/hosted/oci"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// serveHosted answers reads of a hosted repository from hosted state only.
func (h *Handler) serveHosted(ctx *fasthttp.RequestCtx, req request) {
	httpx.SetLogInfo(ctx, req.name, "hosted")
	switch req.kind {
	case "manifests":
		h.hostedManifest(ctx, req)
	case "blobs":
		h.hostedBlob(ctx, req)
	case "tags":
		h.hostedTags(ctx, req.name)
	case "referrers":
		h.referrers(ctx, req)
	}
}

// serveUnpushed answers reads of a name hosted_names claims before anything
// was pushed to it: it has nothing, and the upstream is not asked.
func (h *Handler) serveUnpushed(ctx *fasthttp.RequestCtx, req request) {
	httpx.SetLogInfo(ctx, req.name, "hosted")
	const msg = "nothing has been pushed to this repository yet ([docker] hosted_names keeps it from the upstreams)"
	if req.kind == "blobs" || req.kind == "referrers" {
		if _, err := parseDigest(req.ref); err != nil {
			ociError(ctx, codeDigestInvalid, "invalid digest")
			return
		}
	}
	switch req.kind {
	case "manifests":
		ociError(ctx, codeManifestUnknown, msg)
	case "blobs":
		ociError(ctx, codeBlobUnknown, msg)
	case "tags":
		ociError(ctx, codeNameUnknown, msg)
	case "referrers":
		h.serveReferrers(ctx, nil)
	}
}

func (h *Handler) hostedManifest(ctx *fasthttp.RequestCtx, req request) {
	var m oci.Manifest
	var err error
	if d, derr := parseDigest(req.ref); derr == nil {
		m, err = h.hosted.Manifest(req.name, d, "")
	} else if validTag(req.ref) {
		m, err = h.hosted.Manifest(req.name, "", req.ref)
	} else {
		ociError(ctx, codeManifestUnknown, "invalid tag or digest")
		return
	}
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	obj, err := h.cache.Open(ctx, cache.BlobKey(m.Digest))
	if err != nil {
		h.log.Error("hosted manifest missing from the store", "repository", req.name, "digest", m.Digest, "err", err)
		ociError(ctx, codeManifestUnknown, "manifest bytes are missing from the store")
		return
	}
	ctx.Response.Header.Set("Docker-Content-Digest", string(m.Digest))
	ctx.Response.Header.Set("ETag", `"`+string(m.Digest)+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, m.MediaType)
}

// claimTimeout bounds oci.StatBlob, a store call that claims the blob
// against a running GC.
const claimTimeout = 30 * time.Second

func (h *Handler) hostedBlob(ctx *fasthttp.RequestCtx, req request) {
	d, err := parseDigest(req.ref)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return
	}
	sctx, cancel := pull.Detached(h.base, claimTimeout)
	defer cancel()
	if _, err := h.hosted.StatBlob(sctx, req.name, d); err != nil {
		h.hostedError(ctx, err)
		return
	}
	if redirectBlob(ctx, h.cache, d) {
		return
	}
	obj, err := h.cache.Open(ctx, cache.BlobKey(d))
	if err != nil {
		h.log.Error("hosted blob missing from the store", "repository", req.name, "digest", d, "err", err)
		ociError(ctx, codeBlobUnknown, "blob bytes are missing from the store")
		return
	}
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Response.Header.Set("ETag", `"`+string(d)+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/octet-stream")
}

// hostedCodes are the OCI codes of the hosted registry's refusals; each is
// sent with its code's status and the error's own text, which oci builds
// from the request's values only.
var hostedCodes = []struct {
	err  error
	code string
}{
	{oci.ErrNameUnknown, codeNameUnknown},
	{oci.ErrManifestUnknown, codeManifestUnknown},
	{oci.ErrBlobUnknown, codeBlobUnknown},
	{oci.ErrManifestBlobUnknown, codeManifestBlobUnknown},
	{oci.ErrManifestInvalid, codeManifestInvalid},
	{oci.ErrDigestInvalid, codeDigestInvalid},
	{oci.ErrUploadUnknown, codeBlobUploadUnknown},
	{oci.ErrUploadBusy, codeBlobUploadInvalid},
	{oci.ErrTruncated, codeBlobUploadInvalid},
}

// hostedWire is the OCI answer to an error of the hosted registry. A
// failure of the store's file system is checked first: its text names
// paths, and it is never the client's fault even when it cut an upload
// short.
func hostedWire(err error) (status int, code, msg string) {
	switch {
	case cache.IsNoSpace(err):
		return fasthttp.StatusInsufficientStorage, codeInsufficientStorage, httpx.NoSpaceMessage
	case httpx.LocalFault(err):
		return fasthttp.StatusInternalServerError, codeUnknown, "internal error"
	case errors.Is(err, oci.ErrTooManyUploads):
		return fasthttp.StatusTooManyRequests, codeTooManyRequests, "too many uploads in progress; retry later"
	case errors.Is(err, oci.ErrRangeInvalid):
		// 416 carries the session's Range, which the caller adds.
		return fasthttp.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, err.Error()
	}
	for _, c := range hostedCodes {
		if errors.Is(err, c.err) {
			return codeStatus[c.code], c.code, err.Error()
		}
	}
	return fasthttp.StatusInternalServerError, codeUnknown, "internal error"
}

// hostedError answers an error of the hosted registry in the wire shape,
// logging what is nora's fault.
func (h *Handler) hostedError(ctx *fasthttp.RequestCtx, err error) {
	status, code, msg := hostedWire(err)
	if status >= fasthttp.StatusInternalServerError {
		h.log.Error("hosted registry failed", "path", string(ctx.Path()), "err", err)
	}
	ociErrorStatus(ctx, status, code, msg)
	httpx.SetRetryAfter(ctx, err)
}
