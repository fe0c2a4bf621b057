package docker

import (
	"github.com/opencontainers/go-digest"
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
	if redirectBlob(ctx, h.cache, d) {
		return "hit", nil
	}
	fills := h.artifacts
	fills.Store = h.fillStore(ctx)
	obj, err := fills.Get(ctx, pull.ArtifactRequest{
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

// redirectBlob answers a GET of a committed blob with a 307 to a presigned
// URL of the store when [storage.s3] redirect is on; HEAD and fills in
// progress are served by nora.
func redirectBlob(ctx *fasthttp.RequestCtx, c Cache, d digest.Digest) bool {
	if !ctx.IsGet() {
		return false
	}
	u := c.RedirectURL(ctx, cache.BlobKey(d))
	if u == "" {
		return false
	}
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Redirect(u, fasthttp.StatusTemporaryRedirect)
	return true
}
