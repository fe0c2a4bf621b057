package docker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/proxy/httpx"
	"nora/upstream"
)

// blobWait bounds how long a request waits for upstream response headers
// before its fill can be followed; the fill itself is bounded by stalls only.
const blobWait = 2 * time.Minute

// blob answers a proxied blob read, or returns what kept it from answering
// for the caller to translate.
func (h *Handler) blob(ctx *fasthttp.RequestCtx, rt route, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid digest")
		return nil
	}
	key := cache.BlobKey(d)
	var obj *cache.Object
	if rt.up.cfg.Offline {
		obj, err = h.cache.Open(ctx, key)
		if err == nil {
			h.cache.CountResult("hit")
		} else if errors.Is(err, cache.ErrNotFound) {
			err = errOffline
		}
	} else {
		reg, repo, stall := rt.up.reg, rt.repo, h.stall
		src := func(fctx context.Context) (io.ReadCloser, int64, error) {
			resp, err := reg.Do(fctx, http.MethodGet, repo, "blobs/"+string(d), nil)
			if err != nil {
				return nil, 0, errUnavailable
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return nil, 0, statusError(resp.StatusCode, resp.Header.Get("Retry-After"), codeBlobUnknown)
			}
			return upstream.StallReader(resp.Body, stall), resp.ContentLength, nil
		}
		wctx, cancel := context.WithTimeout(context.Background(), blobWait)
		defer cancel()
		obj, err = h.cache.Fetch(wctx, key, cache.Expect{Digest: d, Size: -1}, src)
	}
	if err != nil {
		return err
	}
	httpx.SetLogInfo(ctx, rt.up.cfg.Name+"/"+rt.repo, obj.Result)
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Response.Header.Set("ETag", `"`+string(d)+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/octet-stream")
	return nil
}
