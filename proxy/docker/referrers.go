package docker

import (
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/valyala/fasthttp"
)

// referrers implements GET /v2/<name>/referrers/<digest>[?artifactType=]
// for a hosted repository: an image index of the manifests whose subject is
// the digest, filtered by artifactType when asked (OCI-Filters-Applied).
// An unknown subject has an empty list.
func (h *Handler) referrers(ctx *fasthttp.RequestCtx, req request) {
	d, err := parseDigest(req.ref)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return
	}
	artifactType := string(ctx.QueryArgs().Peek("artifactType"))
	descs, err := h.hosted.Referrers(req.name, d, artifactType)
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	if artifactType != "" {
		ctx.Response.Header.Set("OCI-Filters-Applied", "artifactType")
	}
	h.serveReferrers(ctx, descs)
}

func (h *Handler) serveReferrers(ctx *fasthttp.RequestCtx, descs []v1.Descriptor) {
	if descs == nil {
		descs = []v1.Descriptor{}
	}
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	writeJSON(ctx, v1.MediaTypeImageIndex, idx)
}
