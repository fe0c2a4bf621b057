package docker

import (
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// blob answers a proxied blob read through the one artifact fill
// (pull.Artifacts) and returns its cache result, or what kept it from
// answering for the caller to translate.
func (h *Handler) blob(ctx *fasthttp.RequestCtx, rt route, ref string) (string, error) {
	d, err := parseDigest(ref)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return "", nil
	}
	obj, err := h.artifacts.Get(ctx, pull.ArtifactRequest{
		Upstream: rt.up.reg, Repo: rt.repo, URL: "blobs/" + string(d),
		Expect: cache.Expect{Digest: d, Size: -1}, Offline: rt.up.cfg.Offline,
	})
	if err != nil {
		return "", err
	}
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Response.Header.Set("ETag", `"`+string(d)+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/octet-stream")
	return obj.Result, nil
}
