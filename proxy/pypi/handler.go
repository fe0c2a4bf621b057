// Package pypi serves the Python simple repository API (/simple/, PEP 503
// HTML and PEP 691 JSON): a pull-through cache of one upstream index, and
// the projects local CI uploads (hosted/pypi).
//
// One upstream document per project is cached, fetched preferring JSON;
// both representations are rendered from it, with file links rewritten to
// nora. Files are fetched from wherever the page points (a separate files
// host, usually) and verified against the page's sha256 before commit.
//
// Hosted projects are uploaded with twine (POST /simple/, upload.go),
// rendered by the same code from their hosted documents, and yanked through
// /api/pypi/ (api.go). A hosted name is never looked up upstream.
package pypi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/pypi"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
	"nora/upstream"
)

// upstreamAccept asks for JSON first so that the cached document carries
// everything (PEP 700 sizes, versions); HTML-only indexes still answer.
var upstreamAccept = http.Header{"Accept": {typeJSON + ", " + typeHTMLv1 + ";q=0.2, " + typeHTML + ";q=0.1"}}

// Memory for parsed pages and rendered views, each.
const memoBytes = 32 << 20

// Handler serves /simple/.
type Handler struct {
	cfg     Config
	deps    pull.Deps
	cache   objects
	auth    auth.Authorizer
	hosted  *hosted.Registry
	up      *upstream.Registry // nil: no upstream configured
	root    string             // upstream simple root, ending in "/"
	offline bool
	pages   *memo[*page] // doc digest + project -> parsed page
	views   *memo[view]  // doc digest (or hosted rev) + project + base + format -> rendered page
}

// view is a rendered page.
type view struct {
	body []byte
	etag string
}

// objects is what the handler asks of the cache itself; fills go through
// pull.
type objects interface {
	OpenNamed(ctx context.Context, name string) (*cache.Object, error)
	CountResult(result string)
}

// New builds the handler on reg, the hosted projects the wiring opened in
// the store (hosted.Open). An empty cfg.Upstream serves only what is
// cached and hosted.
func New(cfg Config, deps pull.Deps, reg *hosted.Registry) (*Handler, error) {
	if deps.Cache == nil || reg == nil {
		return nil, errors.New("cannot set up pypi: no cache or no hosted state")
	}
	h := &Handler{cfg: cfg, deps: deps, cache: deps.Cache, auth: deps.Auth, hosted: reg, offline: cfg.Offline,
		pages: newMemo[*page](memoBytes), views: newMemo[view](memoBytes)}
	if cfg.MaxPageSize <= 0 {
		h.cfg.MaxPageSize = DefaultConfig().MaxPageSize
	}
	if cfg.MaxUploadSize <= 0 {
		h.cfg.MaxUploadSize = DefaultConfig().MaxUploadSize
	}
	if h.auth == nil {
		h.auth = auth.Anonymous{}
	}
	if cfg.Upstream == "" {
		h.offline = true
		return h, nil
	}
	u, err := url.Parse(cfg.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("pypi upstream %q must be an http(s) URL of a simple index root", cfg.Upstream)
	}
	h.root = strings.TrimSuffix(u.String(), "/") + "/"
	if h.up, err = deps.Client.Registry(upstream.RegistryOptions{Name: "pypi", URL: h.root}); err != nil {
		return nil, fmt.Errorf("cannot set up pypi upstream: %w", err)
	}
	return h, nil
}

// Serve implements GET and HEAD of /simple/, /simple/<project>/ and
// /simple/<project>/<file>, uploads (POST /simple/) and the API under
// /api/pypi/.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if rest, ok := strings.CutPrefix(path, "/api/pypi/"); ok {
		h.serveAPI(ctx, rest)
		return
	}
	if ctx.IsPost() {
		switch path {
		case "/simple/", "/simple", "/simple/legacy/", "/simple/legacy":
			// twine posts to its --repository-url as given, with or
			// without the final slash; ".../legacy/" is accepted too,
			// for configurations copied from PyPI's upload URL.
			h.upload(ctx)
			return
		}
	}
	rest, ok := strings.CutPrefix(path, "/simple/")
	if !ok {
		plainError(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		allow := "GET, HEAD"
		if rest == "" {
			allow = "GET, HEAD, POST"
		}
		ctx.Response.Header.Set("Allow", allow)
		plainError(ctx, fasthttp.StatusMethodNotAllowed, "project pages and files are read-only; upload with a POST to /simple/")
		return
	}
	if rest == "" {
		h.serveRoot(ctx)
		return
	}
	project, tail, slash := strings.Cut(rest, "/")
	switch {
	case !validProject(project):
		plainError(ctx, fasthttp.StatusNotFound, "invalid project name")
		return
	case strings.Contains(tail, "/"):
		plainError(ctx, fasthttp.StatusNotFound, "not found")
		return
	case tail != "" && !hosted.ValidFilename(tail):
		plainError(ctx, fasthttp.StatusNotFound, "invalid file name")
		return
	}
	norm := normalize(project)
	if norm != project || !slash {
		// PEP 503: the normalized URL is the one true URL of a project.
		loc := pull.BaseURL(ctx, h.deps.PublicURL) + "/simple/" + norm + "/" + escapeSegment(tail)
		ctx.Response.Header.Set("Location", loc)
		plainError(ctx, fasthttp.StatusMovedPermanently, "moved to "+loc)
		return
	}
	httpx.SetLogInfo(ctx, norm, "")
	if !h.authorize(ctx, auth.Pull, norm) {
		return
	}
	// A hosted project (DESIGN 2.4) is answered from hosted state alone,
	// before any cache or upstream lookup, for pages and files alike.
	if h.hosted.Hosted(norm) {
		if tail == "" {
			h.serveHostedPage(ctx, norm)
		} else {
			h.serveHostedFile(ctx, norm, tail)
		}
		return
	}
	if tail == "" {
		h.servePage(ctx, norm)
		return
	}
	h.serveFile(ctx, norm, tail)
}

// serveRoot answers /simple/ with the hosted projects. pip and uv never
// read the root; PyPI's is tens of MB (every project there is), which an
// edge box would hold in memory to convert between HTML and JSON and keep
// in its cache for nobody, so proxied projects are not listed: listing
// only what happens to be cached would mislead more than it helps.
func (h *Handler) serveRoot(ctx *fasthttp.RequestCtx) {
	httpx.SetLogInfo(ctx, "", "")
	if !h.authorize(ctx, auth.Pull, "") {
		return
	}
	f, _ := negotiate(string(ctx.Request.Header.Peek("Accept")))
	names := h.hosted.Projects()
	ctx.Response.Header.Set("Vary", "Accept")
	ctx.SetContentType(contentTypes[f])
	var b bytes.Buffer
	if f == formatJSON {
		type project struct {
			Name string `json:"name"`
		}
		root := struct {
			Meta     map[string]string `json:"meta"`
			Projects []project         `json:"projects"`
		}{Meta: map[string]string{"api-version": "1.0"}, Projects: make([]project, 0, len(names))}
		for _, n := range names {
			root.Projects = append(root.Projects, project{n})
		}
		json.NewEncoder(&b).Encode(root) // plain strings: cannot fail
		ctx.SetBody(b.Bytes())
		return
	}
	base := pull.BaseURL(ctx, h.deps.PublicURL)
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n" +
		"    <title>Simple index</title>\n  </head>\n  <body>\n")
	for _, n := range names {
		b.WriteString(`    <a href="` + html.EscapeString(base+"/simple/"+n+"/") + `">` + n + "</a>\n")
	}
	b.WriteString("  </body>\n</html>\n")
	ctx.SetBody(b.Bytes())
}

// servePage implements GET /simple/<project>/ in the representation the
// client's Accept asks for.
func (h *Handler) servePage(ctx *fasthttp.RequestCtx, project string) {
	f, _ := negotiate(string(ctx.Request.Header.Peek("Accept")))
	p, doc, err := h.loadPage(ctx, project)
	if err != nil {
		h.fail(ctx, "project "+project, err)
		return
	}
	httpx.SetLogInfo(ctx, project, doc.Result)
	if doc.Stale {
		ctx.Response.Header.Set("X-Nora-Stale", "1")
	}
	key := string(doc.Digest) + " " + project
	h.writeView(ctx, h.render(key, p, project, pull.BaseURL(ctx, h.deps.PublicURL), f), f)
}

// writeView answers with a rendered page, or 304 for a matching
// If-None-Match.
func (h *Handler) writeView(ctx *fasthttp.RequestCtx, v view, f format) {
	hdr := &ctx.Response.Header
	hdr.Set("Vary", "Accept")
	hdr.Set("ETag", v.etag)
	hdr.SetContentType(contentTypes[f])
	if httpx.NotModified(ctx, v.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetBody(v.body)
}

// loadPage returns the project's page: cached while fresh, else
// revalidated or fetched (pull.Docs: serve-stale, negative cache).
func (h *Handler) loadPage(ctx context.Context, project string) (*page, *pull.Doc, error) {
	pageURL := h.root + project + "/"
	doc, err := h.deps.Docs.Get(ctx, pull.DocRequest{
		Key:         pageKey(project),
		Upstream:    h.up,
		URL:         pageURL,
		Header:      upstreamAccept,
		TTL:         h.cfg.TTL.D(),
		NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline:     h.offline,
		MaxBytes:    int64(h.cfg.MaxPageSize),
		Check: func(b []byte) error {
			u, err := url.Parse(pageURL)
			if err == nil {
				_, err = parsePage(b, u)
			}
			return err
		},
	})
	if err != nil {
		return nil, nil, err
	}
	key := string(doc.Digest) + " " + project
	if p, ok := h.pages.get(key); ok {
		return p, doc, nil
	}
	u, err := url.Parse(pageURL)
	if err != nil { // h.offline without upstream: relative links resolve against nothing
		u = &url.URL{}
	}
	p, err := parsePage(doc.Body, u)
	if err != nil {
		return nil, nil, fault.Wrap(fault.BadUpstream, err, "cached page of "+project+" cannot be read")
	}
	h.pages.put(key, p, 2*int64(len(doc.Body))+512)
	return p, doc, nil
}

// render returns page p of project in format f with links under base, from
// memory when this exact view was rendered before. key names p's content
// (the cached document's digest, or the hosted document's revision).
func (h *Handler) render(key string, p *page, project, base string, f format) view {
	key += " " + strconv.Itoa(int(f)) + " " + base
	if v, ok := h.views.get(key); ok {
		return v
	}
	var body []byte
	if f == formatJSON {
		body = renderJSON(p, base, project)
	} else {
		body = renderHTML(p, base, project)
	}
	sum := sha256.Sum256(body)
	v := view{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	h.views.put(key, v, int64(len(body)+len(key)))
	return v
}

// fail answers err, a failure to get what ("project demo",
// "demo-1.0.whl"), as a plain-text error (pull.Deps.Fail: an outage is
// 503, never 404, which pip remembers).
func (h *Handler) fail(ctx *fasthttp.RequestCtx, what string, err error) {
	h.deps.Fail(ctx, "pypi", what, err, plainError)
}

// plainError writes PyPI's error shape: a status and a line of text.
func plainError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(strconv.Itoa(status) + " " + fasthttp.StatusMessage(status) + ": " + msg + "\n")
}
