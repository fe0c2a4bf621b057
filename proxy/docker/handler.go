// Package docker serves the OCI distribution API (/v2/) as a pull-through
// cache of one or more upstream registries.
package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"nora/cache"
	"nora/proxy/httpx"
	"nora/upstream"
)

type upstreamRepo struct {
	cfg UpstreamConfig
	reg *upstream.Registry
}

// Handler serves /v2/.
type Handler struct {
	cfg       Config
	cache     *cache.Cache
	upstreams []*upstreamRepo // the first is the default
	byName    map[string]*upstreamRepo
	neg       *cache.Negative
	meta      singleflight.Group // manifest fetches and revalidations
	log       *slog.Logger
	stall     time.Duration
}

// New builds the handler. stall bounds an upstream body that moves no byte.
func New(cfg Config, c *cache.Cache, client *upstream.Client, log *slog.Logger, stall time.Duration) (*Handler, error) {
	neg, err := cache.NewNegative(100_000)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, cache: c, byName: map[string]*upstreamRepo{}, neg: neg, log: log, stall: stall}
	for _, u := range cfg.Upstreams {
		if u.Name == "" || h.byName[u.Name] != nil {
			return nil, fmt.Errorf("docker upstream names must be set and unique (%q)", u.Name)
		}
		reg, err := client.Registry(upstream.RegistryOptions{
			Name: u.Name, URL: u.URL, Username: u.Username, Password: u.Password, Realm: u.Realm,
		})
		if err != nil {
			return nil, fmt.Errorf("cannot set up docker upstream %q: %w", u.Name, err)
		}
		ur := &upstreamRepo{cfg: u, reg: reg}
		h.upstreams = append(h.upstreams, ur)
		h.byName[u.Name] = ur
	}
	return h, nil
}

// Close releases the handler's memory caches.
func (h *Handler) Close() { h.neg.Close() }

// Serve implements the /v2/ API.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Docker-Distribution-API-Version", "registry/2.0")
	path := string(ctx.Path())
	if !ctx.IsGet() && !ctx.IsHead() {
		ociError(ctx, codeUnsupported, "this registry is a read-only pull-through cache")
		return
	}
	if path == "/v2/" || path == "/v2" {
		ctx.SetContentType("application/json")
		ctx.SetBodyString("{}")
		return
	}
	req, err := parsePath(path)
	if err != nil {
		ociError(ctx, codeNameUnknown, "unknown API path")
		return
	}
	if !validName(req.name) {
		ociError(ctx, codeNameInvalid, "invalid repository name")
		return
	}
	rt, ok := h.resolve(req.name, string(ctx.QueryArgs().Peek("ns")))
	if !ok {
		ociError(ctx, codeNameUnknown, "no upstream is configured for this namespace")
		return
	}
	httpx.SetLogInfo(ctx, rt.up.cfg.Name+"/"+rt.repo, "")
	switch req.kind {
	case "manifests":
		h.manifest(ctx, rt, req.ref)
	case "blobs":
		h.blob(ctx, rt, req.ref)
	case "tags":
		h.tags(ctx, rt, req.name)
	}
}

// upstreamError is an upstream outcome already translated to a wire error.
type upstreamError struct {
	code       string
	msg        string
	retryAfter int
}

func (e *upstreamError) Error() string { return e.code + ": " + e.msg }

var (
	errUnavailable = &upstreamError{code: codeUnavailable, msg: "upstream registry unreachable and the object was never cached"}
	errOffline     = &upstreamError{code: codeUnavailable, msg: "upstream is offline and the object was never cached"}
	errDenied      = &upstreamError{code: codeNameUnknown, msg: "upstream refused access: the repository does not exist or needs credentials"}
)

// writeError translates any error of the data path into the wire shape.
func (h *Handler) writeError(ctx *fasthttp.RequestCtx, err error, notFound string) {
	var ue *upstreamError
	switch {
	case errors.As(err, &ue):
		if ue.code == codeTooManyRequests {
			tooManyRequests(ctx, ue.retryAfter)
			return
		}
		ociError(ctx, ue.code, ue.msg)
	case errors.Is(err, cache.ErrVerify):
		ociError(ctx, codeUnknown, "upstream sent content that does not match its digest; nothing was cached")
	case errors.Is(err, cache.ErrNotFound):
		ociError(ctx, notFound, "not found")
	default:
		h.log.Warn("docker request failed", "err", err)
		ociError(ctx, codeUnavailable, "cannot fetch from upstream")
	}
}

// statusError turns a non-2xx upstream status into a wire error.
func statusError(status int, retryAfter string, notFound string) error {
	switch {
	case status == 404:
		return &upstreamError{code: notFound, msg: "not found upstream"}
	case status == 401 || status == 403:
		return errDenied
	case status == 429:
		n := 0
		fmt.Sscanf(strings.TrimSpace(retryAfter), "%d", &n)
		return &upstreamError{code: codeTooManyRequests, msg: "upstream rate limit", retryAfter: n}
	case status >= 500:
		return errUnavailable
	default:
		return &upstreamError{code: codeUnknown, msg: fmt.Sprintf("upstream answered %d", status)}
	}
}

// upstreamDown reports whether a failure means "serve stale if you can".
func upstreamDown(err error) bool {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.code == codeUnavailable || ue.code == codeTooManyRequests
	}
	return upstream.IsUnavailable(err)
}
