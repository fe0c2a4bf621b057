package docker

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// maxPage is the most entries one page of the catalog or of a tag list
// holds, and the page size when a client sends no n. A larger n is served
// capped, with a Link to the next page: the spec allows fewer than n
// results when a Link follows.
const maxPage = 1000

// pageQuery is a list request's n and last.
type pageQuery struct {
	n      int  // entries to return, at most maxPage
	set    bool // the client sent n
	capped bool // the client asked for more than maxPage
	last   string
}

// pageParams reads n and last; a last that validLast refuses is answered
// with lastCode. ok is false when the answer was written: 400, never the
// 405 of UNSUPPORTED, for a request that is simply malformed.
func pageParams(ctx *fasthttp.RequestCtx, validLast func(string) bool, lastCode, lastWhat string) (q pageQuery, ok bool) {
	q.n = maxPage
	if v := ctx.QueryArgs().Peek("n"); len(v) > 0 {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if !allDigits(string(v)) || err != nil {
			ociError(ctx, codePaginationNumberInvalid,
				fmt.Sprintf("n must be a whole number from 0 (a page holds at most %d entries), got %.40q", maxPage, v))
			return q, false
		}
		q.set, q.capped = true, n > maxPage
		q.n = int(min(n, maxPage))
	}
	q.last = string(ctx.QueryArgs().Peek("last"))
	if q.last != "" && !validLast(q.last) {
		ociError(ctx, lastCode, fmt.Sprintf("last must be %s (the last entry of the previous page), got %.40q", lastWhat, q.last))
		return q, false
	}
	return q, true
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
	q, ok := pageParams(ctx, validTag, codeTagInvalid, "a tag")
	if !ok {
		return
	}
	tags, more := []string{}, false
	if q.n > 0 {
		var err error
		if tags, more, err = h.hosted.Tags(name, q.last, q.n); err != nil {
			h.hostedError(ctx, err)
			return
		}
	}
	if more {
		setNextLink(ctx, "/v2/"+name+"/tags/list", q.n, tags[len(tags)-1])
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
	c, ok := h.authorize(ctx, auth.Pull, "")
	if !ok {
		return
	}
	q, ok := pageParams(ctx, validName, codeNameInvalid, "a repository name")
	if !ok {
		return
	}
	repos, more := []string{}, false
	if q.n > 0 && h.hosted != nil {
		var err error
		repos, more, err = h.hosted.Repositories(q.last, q.n, func(name string) bool {
			return h.auth.Allowed(c.id, auth.Pull, "docker", name)
		})
		if err != nil {
			h.hostedError(ctx, err)
			return
		}
	}
	if more {
		setNextLink(ctx, "/v2/_catalog", q.n, repos[len(repos)-1])
	}
	writeJSON(ctx, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}
