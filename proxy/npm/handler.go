// Package npm serves the npm registry API (/npm/) as a pull-through cache
// of one upstream registry: packuments (full and abbreviated) with TTL,
// revalidation and serve-stale, tarballs verified against the packument's
// dist.integrity / shasum and stored once, and npm audit forwarded.
package npm

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
	"nora/proxy/pull"
	"nora/upstream"
)

// maxPackument caps one packument (the largest public ones are a few tens
// of MB).
const maxPackument = 64 << 20

const (
	mediaAbbreviated  = "application/vnd.npm.install-v1+json"
	acceptAbbreviated = mediaAbbreviated + "; q=1.0, application/json; q=0.8, */*"
)

// Handler serves /npm/.
type Handler struct {
	cfg   Config
	deps  pull.Deps
	up    *upstream.Registry // nil: no upstream configured, cache only
	audit *http.Client
}

// New builds the handler. Without cfg.Upstream it serves what is cached
// and answers 503 for the rest.
func New(cfg Config, deps pull.Deps) (*Handler, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, deps: deps}
	if cfg.Upstream != "" {
		if deps.Client == nil {
			return nil, errors.New("cannot set up npm: no upstream client")
		}
		reg, err := deps.Client.Registry(upstream.RegistryOptions{Name: "npm", URL: cfg.Upstream})
		if err != nil {
			return nil, err
		}
		h.up = reg
		h.audit = newAuditClient()
	}
	return h, nil
}

// offline reports whether the upstream must not be contacted.
func (h *Handler) offline() bool { return h.cfg.Offline || h.up == nil }

// Serve answers one request under /npm/.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	// The raw path: fasthttp's Path() has already decoded @scope%2fname.
	req, err := parseRequest(string(ctx.URI().PathOriginal()))
	switch {
	case errors.Is(err, errUnknownPath):
		npmError(ctx, fasthttp.StatusNotFound, "not found")
		return
	case err != nil:
		npmError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	read := ctx.IsGet() || ctx.IsHead()
	switch {
	case req.kind == kindAudit && ctx.IsPost():
		h.forwardAudit(ctx, req.api)
	case req.kind == kindAudit:
		methodNotAllowed(ctx, "POST")
	case !read:
		// Publishing (PUT /npm/<name>) comes with hosted packages.
		methodNotAllowed(ctx, "GET, HEAD")
	case req.kind == kindPing:
		ctx.SetContentType("application/json")
		ctx.SetBodyString("{}")
	case req.kind == kindPackument:
		h.packument(ctx, req.name)
	case req.kind == kindTarball:
		h.tarball(ctx, req.name, req.file)
	}
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	npmError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
	ctx.Response.Header.Set("Allow", allow)
}

// packument implements GET /npm/<name>: the upstream document, abbreviated
// when the client asks for it, with its tarball URLs pointing at nora.
func (h *Handler) packument(ctx *fasthttp.RequestCtx, name string) {
	// Hosted packages (DESIGN 2.4) will be answered here, before any
	// upstream lookup.
	abbreviated := bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte(mediaAbbreviated))
	httpx.SetLogInfo(ctx, name, "")
	doc, err := h.doc(ctx, name, abbreviated)
	if err != nil {
		h.pullError(ctx, err, "package "+name)
		return
	}
	httpx.SetLogInfo(ctx, name, doc.Result)
	base := pull.BaseURL(ctx, h.deps.PublicURL)
	edits, size, err := rewriteTarballs(doc.Body, base, name)
	if err != nil {
		h.pullError(ctx, &pull.Error{Kind: pull.KindInvalid, Msg: "cannot rewrite packument: " + err.Error()}, "packument")
		return
	}
	hdr := &ctx.Response.Header
	ct := doc.ContentType
	if !strings.Contains(ct, "json") {
		ct = "application/json"
		if abbreviated {
			ct = mediaAbbreviated
		}
	}
	hdr.SetContentType(ct)
	hdr.Set("Vary", "Accept")
	etag := clientETag(doc, base)
	hdr.Set("ETag", etag)
	if doc.Stale {
		hdr.Set("X-Nora-Stale", "1")
	}
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && bytes.Contains(inm, []byte(etag)) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	if ctx.IsHead() {
		hdr.SetContentLength(int(size))
		ctx.Response.SkipBody = true
		return
	}
	httpx.SetBodyStream(ctx, &splicer{doc: doc.Body, edits: edits}, size)
}

// doc returns the cached or fetched packument. Full and abbreviated
// packuments are different upstream documents, cached apart.
func (h *Handler) doc(ctx context.Context, name string, abbreviated bool) (*pull.Doc, error) {
	accept := "application/json"
	if abbreviated {
		accept = acceptAbbreviated
	}
	return h.deps.Docs.Get(ctx, pull.DocRequest{
		Key:         docKey(name, abbreviated),
		Upstream:    h.up,
		URL:         escapedName(name),
		Header:      http.Header{"Accept": {accept}},
		TTL:         h.cfg.TTL.D(),
		NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline:     h.offline(),
		MaxBytes:    maxPackument,
		Check:       checkPackument,
	})
}

// clientETag names the bytes nora sends: the upstream document as rewritten
// for base.
func clientETag(doc *pull.Doc, base string) string {
	f := fnv.New64a()
	f.Write([]byte(base))
	enc := doc.Digest.Encoded()
	if len(enc) > 32 {
		enc = enc[:32]
	}
	return `"` + enc + "-" + strconv.FormatUint(f.Sum64(), 36) + `"`
}
