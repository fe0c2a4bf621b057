// Package cargo serves cargo's sparse registry protocol under /cargo/: the
// crates published into nora (hosted, see nora/hosted/cargo: cargo publish,
// yank, unyank), and a pull-through cache of one upstream sparse index
// (index files, its config.json) and the download host its config.json
// names. A hosted name is answered from hosted state only, never upstream.
package cargo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/cargo"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
	"nora/upstream"
)

// crates is what the handler needs of the cache beyond what pull does for
// it: the .crate files cached already.
type crates interface {
	OpenNamed(ctx context.Context, name string) (*cache.Object, error)
	CountResult(result string)
}

// Handler serves /cargo/.
type Handler struct {
	cfg         Config
	deps        pull.Deps
	cache       crates
	auth        auth.Authorizer
	hosted      *hosted.Registry
	index       *upstream.Registry // nil: no upstream configured
	indexOrigin string

	mu       sync.Mutex
	dl       *upstream.Registry // the download host the upstream's dl names
	dlOrigin string
}

var errNoUpstream = fault.New(fault.NotFound, "no cargo upstream is configured")

// New builds the handler over the hosted crates reg, which the wiring
// opens. An empty cfg.Index means no upstream: every crate that is not
// hosted is unknown.
func New(cfg Config, deps pull.Deps, reg *hosted.Registry) (*Handler, error) {
	if deps.Cache == nil || reg == nil {
		return nil, errors.New("cannot set up cargo: cache and hosted state are required")
	}
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = DefaultMaxUploadSize
	}
	h := &Handler{cfg: cfg, deps: deps, cache: deps.Cache, auth: deps.Auth, hosted: reg}
	if h.auth == nil {
		h.auth = auth.Anonymous{}
	}
	if cfg.Index == "" {
		return h, nil
	}
	up, err := deps.Client.Registry(upstream.RegistryOptions{Name: "cargo", URL: cfg.Index})
	if err != nil {
		return nil, fmt.Errorf("cannot set up the cargo upstream: %w", err)
	}
	u, _ := url.Parse(up.BaseURL())
	h.index, h.indexOrigin = up, origin(u)
	return h, nil
}

// Serve answers one request below /cargo/.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	rest, _ := strings.CutPrefix(string(ctx.Path()), "/cargo/")
	switch {
	case rest == "api/v1/crates/new":
		if allow(ctx, fasthttp.MethodPut) {
			h.publish(ctx)
		}
	case strings.HasPrefix(rest, "api/v1/crates/"):
		name, vers, action, ok := parseVersionPath(strings.TrimPrefix(rest, "api/v1/crates/"))
		if !ok {
			cargoError(ctx, fasthttp.StatusNotFound, "not found: nora answers publish, yank, unyank and downloads below /cargo/api/v1/crates/")
			return
		}
		switch action {
		case "download":
			if allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead) {
				h.download(ctx, strings.ToLower(name), vers)
			}
		case "yank":
			if allow(ctx, fasthttp.MethodDelete) {
				h.yank(ctx, name, vers, true)
			}
		case "unyank":
			if allow(ctx, fasthttp.MethodPut) {
				h.yank(ctx, name, vers, false)
			}
		}
	case rest == "index/config.json":
		if allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead) {
			h.config(ctx)
		}
	case strings.HasPrefix(rest, "index/"):
		name, ok := parseIndexPath(strings.TrimPrefix(rest, "index/"))
		switch {
		case !ok:
			cargoError(ctx, fasthttp.StatusNotFound, "not a sparse index path")
		case allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead):
			h.indexFile(ctx, name)
		}
	default:
		cargoError(ctx, fasthttp.StatusNotFound, "not found")
	}
}

// allow answers 405 unless the request's method is one of methods.
func allow(ctx *fasthttp.RequestCtx, methods ...string) bool {
	for _, m := range methods {
		if string(ctx.Method()) == m {
			return true
		}
	}
	cargoError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed here")
	ctx.Response.Header.Set(fasthttp.HeaderAllow, strings.Join(methods, ", "))
	return false
}

// config implements GET /cargo/index/config.json: downloads and the API
// (publish, yank) come to nora. It is served to anyone (it holds nothing
// secret); with anonymous reads off it says auth-required, so cargo sends
// its token with every request.
func (h *Handler) config(ctx *fasthttp.RequestCtx) {
	base := pull.BaseURL(ctx, h.deps.PublicURL)
	b, _ := json.Marshal(registryConfig{DL: base + "/cargo/api/v1/crates", API: base + "/cargo",
		AuthRequired: !h.auth.Allowed(nil, auth.Pull, "cargo", "")})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// indexFile implements GET /cargo/index/<prefix>/<name>. name is
// lowercased and valid.
func (h *Handler) indexFile(ctx *fasthttp.RequestCtx, name string) {
	httpx.SetLogInfo(ctx, name, "")
	if !h.authorize(ctx, auth.Pull, name) {
		return
	}
	if h.hosted.Hosted(name) {
		h.hostedIndex(ctx, name)
		return
	}
	doc, err := h.indexDoc(ctx, name, h.cfg.TTL.D())
	if err != nil {
		h.fail(ctx, name, err)
		return
	}
	httpx.SetLogInfo(ctx, name, doc.Result)
	serveIndex(ctx, doc.Digest.Encoded(), doc.Body)
	if doc.Stale {
		ctx.Response.Header.Set("X-Nora-Stale", "1")
	}
}

// serveIndex answers with an index file whose sha256 is sum, or 304.
func serveIndex(ctx *fasthttp.RequestCtx, sum string, body []byte) {
	// Our own validator, from the bytes we serve: cargo sends it back as
	// If-None-Match and a 304 spares it the file.
	etag := `"` + sum + `"`
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag)
	if httpx.NotModified(ctx, etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(body)
}

// indexDoc returns name's index file under the freshness rule, with ttl.
func (h *Handler) indexDoc(ctx context.Context, name string, ttl time.Duration) (*pull.Doc, error) {
	if h.index == nil {
		return nil, errNoUpstream
	}
	return h.deps.Docs.Get(ctx, pull.DocRequest{
		Key:         indexKey(name),
		Upstream:    h.index,
		URL:         indexPath(name),
		TTL:         ttl,
		NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline:     h.cfg.Offline,
		MaxBytes:    maxIndexBytes,
		Check:       checkIndex(name),
	})
}

// registryConfig returns the upstream index's config.json, which names its
// download host.
func (h *Handler) registryConfig(ctx context.Context) (registryConfig, error) {
	doc, err := h.deps.Docs.Get(ctx, pull.DocRequest{
		Key:         configKey,
		Upstream:    h.index,
		URL:         "config.json",
		TTL:         h.cfg.TTL.D(),
		NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline:     h.cfg.Offline,
		MaxBytes:    maxConfigBytes,
		Check:       func(b []byte) error { _, err := parseRegistryConfig(b); return err },
	})
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			err = fault.New(fault.BadUpstream, "the upstream index has no config.json")
		}
		return registryConfig{}, err
	}
	return parseRegistryConfig(doc.Body)
}

// dlRegistry is the upstream client for a download URL: the index's own
// for its origin (or a relative dl), else one for the download host, so
// that host's failures neither open the index's breaker nor receive its
// credentials.
func (h *Handler) dlRegistry(target string) (*upstream.Registry, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fault.New(fault.BadUpstream, "the upstream's dl does not give a URL")
	}
	if !u.IsAbs() {
		return h.index, nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fault.New(fault.BadUpstream, "the upstream's dl is not an http(s) URL")
	}
	o := origin(u)
	if o == h.indexOrigin {
		return h.index, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dl != nil && h.dlOrigin == o {
		return h.dl, nil
	}
	reg, err := h.deps.Client.Registry(upstream.RegistryOptions{Name: "cargo-dl", URL: o, Discovered: true})
	if err != nil {
		return nil, fault.New(fault.BadUpstream, "the upstream's dl host is unusable: "+err.Error())
	}
	h.dl, h.dlOrigin = reg, o
	return reg, nil
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
