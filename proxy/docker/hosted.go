package docker

import (
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/hosted/oci"
	"nora/proxy/httpx"
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
	switch req.kind {
	case "manifests":
		ociError(ctx, codeManifestUnknown, msg)
	case "blobs":
		if _, err := parseDigest(req.ref); err != nil {
			ociError(ctx, codeDigestInvalid, "invalid digest")
			return
		}
		ociError(ctx, codeBlobUnknown, msg)
	case "tags":
		ociError(ctx, codeNameUnknown, msg)
	case "referrers":
		if _, err := parseDigest(req.ref); err != nil {
			ociError(ctx, codeDigestInvalid, "invalid digest")
			return
		}
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

func (h *Handler) hostedBlob(ctx *fasthttp.RequestCtx, req request) {
	d, err := parseDigest(req.ref)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return
	}
	if _, err := h.hosted.Blob(req.name, d); err != nil {
		h.hostedError(ctx, err)
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

// hostedError translates an error of the hosted registry into the wire
// shape. A failure of the store's file system is checked first: its text
// names paths, and it is never the client's fault even when it cut an
// upload short.
func (h *Handler) hostedError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case cache.IsNoSpace(err):
		h.log.Error("hosted registry: storage is full", "path", string(ctx.Path()), "err", err)
		ociError(ctx, codeInsufficientStorage, httpx.NoSpaceMessage)
	case httpx.LocalFault(err):
		h.log.Error("hosted registry: storage failed", "path", string(ctx.Path()), "err", err)
		ociErrorStatus(ctx, fasthttp.StatusInternalServerError, codeUnknown, "internal error")
	case errors.Is(err, oci.ErrNameUnknown):
		ociError(ctx, codeNameUnknown, err.Error())
	case errors.Is(err, oci.ErrManifestUnknown):
		ociError(ctx, codeManifestUnknown, err.Error())
	case errors.Is(err, oci.ErrBlobUnknown):
		ociError(ctx, codeBlobUnknown, err.Error())
	case errors.Is(err, oci.ErrManifestBlobUnknown):
		ociError(ctx, codeManifestBlobUnknown, err.Error())
	case errors.Is(err, oci.ErrManifestInvalid):
		ociError(ctx, codeManifestInvalid, err.Error())
	case errors.Is(err, oci.ErrDigestInvalid):
		ociError(ctx, codeDigestInvalid, err.Error())
	case errors.Is(err, oci.ErrUploadUnknown):
		ociError(ctx, codeBlobUploadUnknown, err.Error())
	case errors.Is(err, oci.ErrUploadBusy), errors.Is(err, oci.ErrTruncated):
		ociError(ctx, codeBlobUploadInvalid, err.Error())
	case errors.Is(err, oci.ErrTooManyUploads):
		ociError(ctx, codeTooManyRequests, "too many uploads in progress; retry later")
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(uploadRetryAfter))
	default:
		h.log.Error("hosted registry failed", "err", err)
		ociErrorStatus(ctx, fasthttp.StatusInternalServerError, codeUnknown, "internal error")
	}
}
