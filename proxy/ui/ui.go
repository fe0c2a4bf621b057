// Package ui serves nora's web UI at /ui/: an overview of the box (disk,
// hit ratio, WAN bytes saved, upstreams, most pulled, last errors), the
// upstreams, and the hosted and cached content per format. Pages are
// rendered on the server with html/template (every value escaped) from
// templates embedded in the binary, with one small stylesheet: no
// JavaScript, no build step. It is read-only; who may see it is decided
// by the caller (ServeFor).
package ui

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/proxy/stats"
	"nora/upstream"
)

// Prefix is where the UI is served.
const Prefix = "/ui/"

//go:embed templates/*.html
var templateFS embed.FS

// Stylesheet is the UI's CSS, served at Prefix+"style.css".
//
//go:embed style.css
var Stylesheet []byte

// Options are what the pages show.
type Options struct {
	Version string
	// Formats are the enabled formats, in stats.Formats order.
	Formats []string
	// Disk reports the storage's usage and [storage] max_size.
	Disk func(context.Context) (cache.Stats, error)
	// Upstreams reports each upstream's state.
	Upstreams func() []upstream.Status
	Stats     *stats.Stats
	// Content lists hosted and cached content; nil: no content pages.
	Content Content
	// Deliveries lists the webhooks' deliveries; nil: no webhooks page.
	Deliveries Deliveries
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Visible reports whether the viewer may see name of format (a pull
// permission); the overview's lists and the content pages show only what
// it allows.
type Visible func(format, name string) bool

// Handler serves the UI.
type Handler struct {
	opts  Options
	pages map[string]*template.Template
}

// New parses the templates.
func New(opts Options) (*Handler, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"bytes":   Bytes,
		"percent": Percent,
		"ago":     func(t time.Time) string { return Ago(t, opts.Now()) },
		"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"list":    func(v ...any) []any { return v },
		"itemurl": itemURL,
		"short":   shortDigest,
	}
	for _, p := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		h.pages[p] = t
	}
	return h, nil
}

// pageNames are the templates/<name>.html pages.
var pageNames = []string{"overview", "upstreams", "errors", "notfound", "list", "image", "package", "webhooks"}

// page is what every page's layout needs besides its own data.
type page struct {
	Title   string
	Nav     string // the current section, for aria-current
	Version string
	Formats []string // with content pages; none: no content links
	Hooks   bool     // link the webhooks page
	Data    any
}

// ServeFor serves GET and HEAD under Prefix to a viewer who may see what
// visible allows.
func (h *Handler) ServeFor(ctx *fasthttp.RequestCtx, visible Visible) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("405 method not allowed\n", fasthttp.StatusMethodNotAllowed)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD")
		return
	}
	rest := strings.TrimPrefix(string(ctx.Path()), Prefix)
	switch {
	case rest == "style.css":
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "max-age=300")
		h.write(ctx, "text/css; charset=utf-8", Stylesheet)
	case rest == "":
		h.render(ctx, "overview", "Overview", "overview", h.overview(ctx, visible))
	case rest == "upstreams":
		h.render(ctx, "upstreams", "Upstreams", "upstreams", h.upstreams())
	case rest == "errors":
		h.render(ctx, "errors", "Last errors", "errors", h.opts.Stats.Errors())
	case rest == "webhooks" && h.opts.Deliveries != nil:
		h.webhooks(ctx)
	case h.opts.Content != nil && strings.HasPrefix(rest, "content/"):
		h.content(ctx, strings.TrimPrefix(rest, "content/"), visible)
	default:
		h.notFound(ctx, "There is no such page.")
	}
}

func (h *Handler) notFound(ctx *fasthttp.RequestCtx, msg string) {
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	h.render(ctx, "notfound", "Not found", "", msg)
}

// render executes page name with data into the response.
func (h *Handler) render(ctx *fasthttp.RequestCtx, name, title, nav string, data any) {
	p := page{Title: title, Nav: nav, Version: h.opts.Version, Data: data}
	if h.opts.Content != nil {
		p.Formats = h.opts.Formats
	}
	p.Hooks = h.opts.Deliveries != nil
	var b bytes.Buffer
	if err := h.pages[name].Execute(&b, p); err != nil {
		ctx.Error("cannot render the page\n", fasthttp.StatusInternalServerError)
		return
	}
	// The numbers change; a page must not be kept.
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	h.write(ctx, "text/html; charset=utf-8", b.Bytes())
}

func (h *Handler) write(ctx *fasthttp.RequestCtx, contentType string, body []byte) {
	hdr := &ctx.Response.Header
	hdr.SetContentType(contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
	hdr.Set("Referrer-Policy", "same-origin")
	if ctx.IsHead() {
		hdr.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(body)
}
