package docker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

const maxTagListBytes = 8 << 20

// tags relays tags/list with n/last paging and returns its cache result.
// The first page is kept so the list still answers when upstream is down.
// n is capped at maxPage like the hosted lists; n=0 answers an empty list
// without a Link (the spec), once upstream has said the repository exists.
func (h *Handler) tags(ctx *fasthttp.RequestCtx, rt route, clientName string) (string, error) {
	pq, ok := pageParams(ctx, validTag, codeTagInvalid, "a tag")
	if !ok {
		return "", nil
	}
	q := url.Values{}
	if pq.set {
		q.Set("n", strconv.Itoa(max(pq.n, 1)))
	}
	if pq.last != "" {
		q.Set("last", pq.last)
	}
	cacheable := len(q) == 0
	path := "tags/list"
	if !cacheable {
		path += "?" + q.Encode()
	}
	body, link, err := h.fetchTags(rt, path)
	if err != nil && cacheable && pull.Down(err) {
		if obj, oerr := h.cache.OpenNamed(ctx, tagListKey(rt)); oerr == nil {
			h.cache.CountResult("stale")
			ctx.Response.Header.Set("X-Nora-Stale", "1")
			httpx.ServeContent(ctx, obj.Body, obj.Size, "application/json")
			return "stale", nil
		}
	}
	if err != nil {
		return "", err
	}
	if cacheable {
		h.keepTagList(ctx, tagListKey(rt), body)
	}
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if pq.set && pq.n == 0 {
		if json.Unmarshal(body, &list) != nil || list.Name == "" {
			list.Name = clientName
		}
		writeJSON(ctx, "application/json", struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}{list.Name, []string{}})
		return "", nil
	}
	if link == "" && pq.capped && json.Unmarshal(body, &list) == nil && len(list.Tags) == pq.n {
		// The client asked for more than a page: it learns of the rest
		// from the Link, even if upstream sent none.
		next := url.Values{"n": {strconv.Itoa(pq.n)}, "last": {list.Tags[len(list.Tags)-1]}}
		link = "</v2/" + rt.repo + "/tags/list?" + next.Encode() + `>; rel="next"`
	}
	if link != "" {
		// Point the next page at this registry and the client's name.
		if i := strings.Index(link, "/tags/list"); i > 0 && strings.HasPrefix(link, "<") {
			link = "</v2/" + clientName + link[i:]
			if ns := ctx.QueryArgs().Peek("ns"); len(ns) > 0 && !strings.Contains(link, "ns=") {
				link = strings.Replace(link, "/tags/list?", "/tags/list?ns="+url.QueryEscape(string(ns))+"&", 1)
			}
		}
		ctx.Response.Header.Set("Link", link)
	}
	ctx.SetContentType("application/json")
	if !ctx.IsHead() {
		ctx.SetBody(body)
	}
	return "", nil
}

// keepTagList stores a first page content addressed, under a ref, for
// when the upstream is down.
func (h *Handler) keepTagList(ctx context.Context, key string, body []byte) {
	d := digest.FromBytes(body)
	err := h.cache.PutBlob(ctx, d, body)
	if err == nil {
		err = h.cache.PutRef(ctx, key, cache.Ref{Digest: d, MediaType: "application/json", Size: int64(len(body)), FetchedAt: time.Now()})
	}
	if err != nil {
		h.log.Warn("cannot keep tag list", "key", key, "err", err)
	}
}

func (h *Handler) fetchTags(rt route, path string) ([]byte, string, error) {
	if rt.up.cfg.Offline {
		return nil, "", pull.ErrOffline
	}
	bg, cancel := pull.Detached(h.base, metaTimeout)
	defer cancel()
	what := rt.repo + "/" + path
	resp, err := rt.up.reg.Do(bg, http.MethodGet, rt.repo, path, nil)
	if err != nil {
		return nil, "", pull.Unreachable(what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", pull.StatusError(what, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTagListBytes+1))
	if err != nil {
		return nil, "", pull.Unreachable(what, err)
	}
	if len(body) > maxTagListBytes {
		return nil, "", fault.New(fault.BadUpstream, "upstream tag list is too large")
	}
	return body, resp.Header.Get("Link"), nil
}
