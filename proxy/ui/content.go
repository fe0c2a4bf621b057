package ui

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
	"nora/proxy/inventory"
)

// Content is what is on the box, as package inventory answers it.
type Content interface {
	Images(ctx context.Context, repo string) ([]inventory.Image, error)
	Packages(ctx context.Context, format, name string) ([]inventory.Package, error)
	Cached(ctx context.Context, format string, limit int) ([]inventory.Cached, error)
}

// recentShown is how many recently used cached items a list page shows.
const recentShown = 20

// listView is a format's list page: images or packages matching Query.
type listView struct {
	Format string
	Query  string
	Images []imageRow
	Pkgs   []packageRow
	Recent []inventory.Cached
	Error  string
}

type imageRow struct {
	Name     string
	Hosted   bool
	Tags     int
	Size     int64 // of the largest tag
	LastPull time.Time
}

type packageRow struct {
	Name     string
	Hosted   bool
	Versions int
	Size     int64 // of all versions
	LastPull time.Time
}

// content serves content/<format>[/<name>].
func (h *Handler) content(ctx *fasthttp.RequestCtx, rest string, visible Visible) {
	format, name, _ := strings.Cut(rest, "/")
	if !slices.Contains(h.opts.Formats, format) {
		h.notFound(ctx, "There is no such format on this nora.")
		return
	}
	if name != "" {
		h.item(ctx, format, name, visible)
		return
	}
	q := strings.TrimSpace(string(ctx.QueryArgs().Peek("q")))
	v := listView{Format: format, Query: q}
	match := func(n string) bool {
		return visible(format, n) && (q == "" || strings.Contains(strings.ToLower(n), strings.ToLower(q)))
	}
	var err error
	if format == "docker" {
		v.Images, err = h.imageRows(ctx, match)
	} else {
		v.Pkgs, err = h.packageRows(ctx, format, match)
	}
	if err != nil {
		v.Error = err.Error()
	}
	if recent, err := h.opts.Content.Cached(ctx, format, recentShown); err == nil {
		for _, c := range recent {
			if match(c.Name) {
				v.Recent = append(v.Recent, c)
			}
		}
	}
	h.render(ctx, "list", format, format, v)
}

func (h *Handler) imageRows(ctx context.Context, match func(string) bool) ([]imageRow, error) {
	imgs, err := h.opts.Content.Images(ctx, "")
	var rows []imageRow
	for _, img := range imgs {
		if !match(img.Repository) {
			continue
		}
		r := imageRow{Name: img.Repository, Hosted: img.Hosted, Tags: len(img.Tags)}
		for _, t := range img.Tags {
			r.Size = max(r.Size, t.Size)
			r.LastPull = later(r.LastPull, t.LastPull)
		}
		rows = append(rows, r)
	}
	return rows, err
}

func (h *Handler) packageRows(ctx context.Context, format string, match func(string) bool) ([]packageRow, error) {
	pkgs, err := h.opts.Content.Packages(ctx, format, "")
	var rows []packageRow
	for _, p := range pkgs {
		if !match(p.Name) {
			continue
		}
		r := packageRow{Name: p.Name, Hosted: p.Hosted, Versions: len(p.Versions)}
		for _, v := range p.Versions {
			r.Size += v.Size
			r.LastPull = later(r.LastPull, v.LastPull)
		}
		rows = append(rows, r)
	}
	return rows, err
}

// itemView is one image's or package's page.
type itemView struct {
	Format string
	Name   string
	Images []inventory.Image
	Pkgs   []inventory.Package
}

// item serves the page of one image (its tags) or package (its versions).
func (h *Handler) item(ctx *fasthttp.RequestCtx, format, name string, visible Visible) {
	if !visible(format, name) {
		h.notFound(ctx, "There is no such "+kind(format)+" on this nora.")
		return
	}
	v := itemView{Format: format, Name: name}
	var err error
	if format == "docker" {
		v.Images, err = h.opts.Content.Images(ctx, name)
	} else {
		v.Pkgs, err = h.opts.Content.Packages(ctx, format, name)
	}
	switch {
	case fault.KindOf(err) == fault.NotFound:
		h.notFound(ctx, "There is no "+kind(format)+" "+name+" on this nora.")
		return
	case err != nil:
		ctx.Error("cannot list "+name+": "+err.Error()+"\n", fasthttp.StatusInternalServerError)
		return
	}
	if format == "docker" {
		h.render(ctx, "image", name, format, v)
		return
	}
	h.render(ctx, "package", name, format, v)
}

func kind(format string) string {
	if format == "docker" {
		return "image"
	}
	return format + " package"
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// itemURL is the page of name of format.
func itemURL(format, name string) string {
	return Prefix + "content/" + format + "/" + (&url.URL{Path: name}).EscapedPath()
}

// shortDigest is a digest's algorithm and first 12 hex digits.
func shortDigest(d fmt.Stringer) string {
	s := d.String()
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}
