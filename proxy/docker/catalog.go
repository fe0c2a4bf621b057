package docker

import (
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// maxPage is the page size when a client sends no n, and the most a client
// may ask for.
const maxPage = 1000

// pageParams reads n and last. ok is false when the answer was written.
func pageParams(ctx *fasthttp.RequestCtx) (n int, last string, ok bool) {
	n = maxPage
	if v := ctx.QueryArgs().Peek("n"); len(v) > 0 {
		var err error
		if n, err = strconv.Atoi(string(v)); err != nil || n < 0 {
			ociError(ctx, codeUnsupported, "n must be a non-negative integer")
			return 0, "", false
		}
		n = min(n, maxPage)
	}
	return n, string(ctx.QueryArgs().Peek("last")), true
}

// setNextLink points the client at the next page (RFC 5988 Link).
func setNextLink(ctx *fasthttp.RequestCtx, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	ctx.Response.Header.Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func writeJSON(ctx *fasthttp.RequestCtx, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ociErrorStatus(ctx, fasthttp.StatusInternalServerError, codeUnknown, "cannot encode response")
		return
	}
	ctx.SetContentType(contentType)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(b))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

// hostedTags implements GET /v2/<name>/tags/list for a hosted repository:
// tags in lexical order, n/last paging.
func (h *Handler) hostedTags(ctx *fasthttp.RequestCtx, name string) {
	n, last, ok := pageParams(ctx)
	if !ok {
		return
	}
	tags, more := []string{}, false
	if n > 0 {
		var err error
		if tags, more, err = h.hosted.Tags(name, last, n); err != nil {
			h.hostedError(ctx, err)
			return
		}
	}
	if more {
		setNextLink(ctx, "/v2/"+name+"/tags/list", n, tags[len(tags)-1])
	}
	writeJSON(ctx, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
}

// catalog implements GET /v2/_catalog: the hosted repositories the caller
// may pull, n/last paging. Proxied repositories are not enumerable.
func (h *Handler) catalog(ctx *fasthttp.RequestCtx, action auth.Action) {
	if action != auth.Pull {
		ociError(ctx, codeUnsupported, "method not supported")
		return
	}
	id, ok := h.authorize(ctx, auth.Pull, "")
	if !ok {
		return
	}
	n, last, ok := pageParams(ctx)
	if !ok {
		return
	}
	repos, more := []string{}, false
	if n > 0 && h.hosted != nil {
		var err error
		repos, more, err = h.hosted.Repositories(last, n, func(name string) bool {
			return h.auth.Allowed(id, auth.Pull, "docker", name)
		})
		if err != nil {
			h.hostedError(ctx, err)
			return
		}
	}
	if more {
		setNextLink(ctx, "/v2/_catalog", n, repos[len(repos)-1])
	}
	writeJSON(ctx, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}
