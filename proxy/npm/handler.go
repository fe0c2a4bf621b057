// Package npm serves the npm registry API (/npm/): a pull-through cache
// of one upstream registry (packuments, full and abbreviated, with TTL,
// revalidation and serve-stale; tarballs verified against the packument's
// dist.integrity / shasum and stored once; npm audit forwarded) and the
// site's own hosted packages (npm publish, dist-tag, deprecate, unpublish),
// which take precedence: a hosted name is never looked up upstream.
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

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/npm"
	"nora/internal/fault"
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
	cfg    Config
	deps   pull.Deps
	cache  objects
	up     *upstream.Registry // nil: no upstream configured, cache only
	audit  *http.Client
	auth   auth.Authorizer
	hosted *hosted.Registry
	limits hosted.Limits
}

// objects is what the handler asks of the cache itself; fills go through
// pull.
type objects interface {
	OpenNamed(ctx context.Context, name string) (*cache.Object, error)
	CountResult(result string)
	TempDir() string
}

// New builds the handler on reg, the hosted state the wiring opened in
// the store (hosted.Open). Without cfg.Upstream it serves hosted packages
// and what is cached, and answers 503 for the rest.
func New(cfg Config, deps pull.Deps, reg *hosted.Registry) (*Handler, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if deps.Cache == nil || reg == nil {
		return nil, errors.New("cannot set up npm: no cache or no hosted state")
	}
	h := &Handler{cfg: cfg, deps: deps, cache: deps.Cache, auth: deps.Auth, hosted: reg, limits: hosted.DefaultLimits()}
	if h.auth == nil {
		h.auth = auth.Anonymous{}
	}
	if cfg.MaxPublishSize > 0 {
		h.limits.MaxBody = int64(cfg.MaxPublishSize)
	}
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

// isHosted reports whether name is served from hosted state only: it was
// published here, or hosted_names claims it.
func (h *Handler) isHosted(name string) bool {
	return h.hosted.Hosted(name) || h.cfg.claimed(name)
}

// Serve answers one request under /npm/.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	// The raw path: fasthttp's Path() has already decoded @scope%2fname.
	req, err := parseRequest(string(ctx.URI().PathOriginal()))
	if err != nil {
		npmError(ctx, httpx.Status(err), fault.Message(err))
		return
	}
	read := ctx.IsGet() || ctx.IsHead()
	switch {
	case req.kind == kindAudit && ctx.IsPost():
		if h.authorize(ctx, auth.Pull, "") {
			h.forwardAudit(ctx, req.api)
		}
	case req.kind == kindAudit:
		methodNotAllowed(ctx, "POST")
	case req.kind == kindLogin:
		npmError(ctx, fasthttp.StatusNotImplemented, loginMessage)
	case req.kind == kindWhoami && read:
		h.whoami(ctx)
	case req.kind == kindDistTags:
		h.distTags(ctx, req)
	case req.kind == kindPackument && ctx.IsPut():
		h.put(ctx, req.name, "", false)
	case req.kind == kindRev && ctx.IsPut():
		h.put(ctx, req.name, req.rev, true)
	case req.kind == kindRev && ctx.IsDelete():
		h.unpublishAll(ctx, req.name, req.rev)
	case req.kind == kindRev:
		methodNotAllowed(ctx, "PUT, DELETE")
	case req.kind == kindTarballRev && ctx.IsDelete():
		h.deleteTarball(ctx, req.name, req.file, req.rev)
	case req.kind == kindTarballRev:
		methodNotAllowed(ctx, "DELETE")
	case req.kind == kindPackument && !read:
		methodNotAllowed(ctx, "GET, HEAD, PUT")
	case !read:
		methodNotAllowed(ctx, "GET, HEAD")
	case req.kind == kindPing:
		ctx.SetContentType("application/json")
		ctx.SetBodyString("{}")
	case !h.authorize(ctx, auth.Pull, req.name):
		// refused, and answered
	// A hosted name is answered from hosted state only (DESIGN 2.4).
	case req.kind == kindPackument && h.isHosted(req.name):
		h.hostedPackument(ctx, req.name)
	case req.kind == kindPackument:
		h.packument(ctx, req.name)
	case req.kind == kindTarball && h.isHosted(req.name):
		h.hostedTarball(ctx, req.name, req.file)
	case req.kind == kindTarball:
		h.tarball(ctx, req.name, req.file)
	}
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	npmError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
	ctx.Response.Header.Set("Allow", allow)
}

// packument implements GET /npm/<name> of a proxied package (Serve answers
// hosted ones from hosted state): the upstream document, abbreviated
// when the client asks for it, with its tarball URLs pointing at nora.
func (h *Handler) packument(ctx *fasthttp.RequestCtx, name string) {
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
		h.pullError(ctx, fault.Wrap(fault.BadUpstream, err, "cannot rewrite packument"), "packument")
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
	if httpx.NotModified(ctx, etag) {
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
