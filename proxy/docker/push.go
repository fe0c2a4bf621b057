package docker

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// readManifestBody reads a manifest body of at most maxManifestBytes. ok is
// false when the answer was written (413, or a body that broke off).
func readManifestBody(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	declared := int64(ctx.Request.Header.ContentLength())
	if declared > maxManifestBytes {
		ociErrorStatus(ctx, fasthttp.StatusRequestEntityTooLarge, codeManifestInvalid,
			fmt.Sprintf("manifest is larger than %d bytes", maxManifestBytes))
		ctx.SetConnectionClose() // do not read the rest
		return nil, false
	}
	// In memory, so under the server's limits on such bodies.
	b, err := httpx.ReadBody(ctx, maxManifestBytes)
	switch status := httpx.BodyStatus(err); {
	case err != nil && status == fasthttp.StatusServiceUnavailable:
		ociError(ctx, codeUnavailable, err.Error())
		return nil, false
	case err != nil && status != fasthttp.StatusRequestEntityTooLarge:
		ociErrorStatus(ctx, status, codeManifestInvalid, "cannot read the manifest: "+err.Error())
		return nil, false
	case err != nil:
		ociErrorStatus(ctx, fasthttp.StatusRequestEntityTooLarge, codeManifestInvalid,
			fmt.Sprintf("manifest is larger than %d bytes", maxManifestBytes))
		ctx.SetConnectionClose()
		return nil, false
	case declared >= 0 && int64(len(b)) != declared:
		ociError(ctx, codeManifestInvalid, fmt.Sprintf("manifest body has %d bytes, Content-Length says %d", len(b), declared))
		return nil, false
	}
	return b, true
}

// putManifest implements PUT /v2/<name>/manifests/<tag|digest>. The bytes
// are stored unchanged; pushing by digest may tag as well with ?tag=
// (distribution-spec 1.1+dev), answered by OCI-Tag.
func (h *Handler) putManifest(ctx *fasthttp.RequestCtx, req request) {
	var want digest.Digest
	var tags []string
	if d, err := parseDigest(req.ref); err == nil {
		want = d
		for _, t := range ctx.QueryArgs().PeekMulti("tag") {
			if !validTag(string(t)) {
				ociError(ctx, codeTagInvalid, "invalid tag "+string(t))
				return
			}
			tags = append(tags, string(t))
		}
	} else if validTag(req.ref) {
		tags = []string{req.ref}
	} else if strings.Contains(req.ref, ":") {
		ociError(ctx, codeDigestInvalid, "invalid digest "+req.ref)
		return
	} else {
		ociError(ctx, codeTagInvalid, "invalid tag "+req.ref)
		return
	}
	// A manifest counts against its tenant's quota as blobs do: by its
	// declared length before it is read, else by the bytes read.
	declared := int64(ctx.Request.Header.ContentLength())
	if declared >= 0 && !h.reserve(ctx, req.name, nil, 0, declared) {
		return
	}
	body, ok := readManifestBody(ctx)
	if !ok || (declared < 0 && !h.reserve(ctx, req.name, nil, 0, int64(len(body)))) {
		return
	}
	wctx, cancel := pull.Detached(h.base, metaTimeout)
	defer cancel()
	m, err := h.hosted.PutManifest(wctx, req.name, want, tags, body, string(ctx.Request.Header.ContentType()))
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	if m.Subject != "" {
		ctx.Response.Header.Set("OCI-Subject", string(m.Subject))
	}
	if want != "" && len(tags) > 0 {
		ctx.Response.Header.Set("OCI-Tag", strings.Join(tags, ","))
	}
	ctx.Response.Header.Set("Location", "/v2/"+req.name+"/manifests/"+string(m.Digest))
	ctx.Response.Header.Set("Docker-Content-Digest", string(m.Digest))
	httpx.SetEvent(ctx, httpx.EventPush, req.ref, string(m.Digest), m.Size)
	ctx.SetStatusCode(fasthttp.StatusCreated)
}
