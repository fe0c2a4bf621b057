// Package docker serves the OCI distribution API (/v2/): a pull-through
// cache of one or more upstream registries, and the hosted repositories
// local CI pushes to (state in nora/hosted/oci).
//
// Precedence (DESIGN 2.4): a repository name that exists hosted is served
// only from hosted state and never looked up upstream. The first push that
// stores something under a name (a blob, a mount or a manifest) makes the
// name hosted, even if it was proxied until then: from that moment on pulls
// of that name see only what was pushed. Hosted names are the names clients
// send ("app" and "library/app" are two repositories). Names matching
// [docker] hosted_names are hosted before their first push. Requests that
// carry containerd's ?ns= name an upstream explicitly and are always
// proxied.
//
// A push to a new repository must not depend on the upstream: clients
// check which tags and blobs exist before they upload, and those checks of
// a name not hosted yet are proxied reads. When the upstream cannot answer
// them, a caller pushing to the name (see pushing) is told 404, so its push
// goes on; anyone else is told 503, as a pull needs to hear.
package docker

import (
	"context"

	"github.com/dgraph-io/ristretto/v2"

	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"nora/auth"
	"nora/cache"
	"nora/hosted/oci"
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
	hosted    *oci.Registry // nil: no hosted repositories, writes refused
	auth      auth.Authorizer
	tokens    *auth.Tokens // nil: Basic credentials only
	publicURL string
	upstreams []*upstreamRepo // the first is the default
	byName    map[string]*upstreamRepo
	neg       *cache.Negative
	claims    []*glob.Pattern // hosted_names
	// mediaTypes remembers the media type of proxied manifests by digest,
	// so a warm GET by digest reads no ref file.
	mediaTypes *ristretto.Cache[string, string]
	meta       singleflight.Group // manifest fetches and revalidations
	log        *slog.Logger
	stall      time.Duration
	base       context.Context // the server's lifetime; see Deps.Base
}

// Deps are what the handler is built on.
type Deps struct {
	Cache  *cache.Cache
	Client *upstream.Client
	// Hosted holds the pushed repositories; nil makes the handler a
	// read-only pull-through cache.
	Hosted *oci.Registry
	// Auth decides who may pull, push and delete; nil allows anonymous
	// reads and no writes.
	Auth auth.Authorizer
	// Tokens verifies the bearer tokens of /auth/token. With it and writes
	// enabled, the handler challenges with Bearer (the ping included);
	// nil: Basic credentials only.
	Tokens *auth.Tokens
	// PublicURL is server.public_url, the base of the token realm; "" means
	// the request's Host.
	PublicURL string
	Log       *slog.Logger
	// Stall bounds an upstream body that moves no byte.
	Stall time.Duration
	// Base lives as long as the server; see pull.Deps.Base.
	Base context.Context
}

// New builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	claims, err := compileNames(cfg.HostedNames)
	if err != nil {
		return nil, err
	}
	neg, err := cache.NewNegative(100_000)
	if err != nil {
		return nil, err
	}
	mt, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 100_000, MaxCost: 10_000, BufferItems: 64})
	if err != nil {
		neg.Close()
		return nil, err
	}
	h := &Handler{cfg: cfg, cache: d.Cache, hosted: d.Hosted, auth: d.Auth, tokens: d.Tokens, publicURL: d.PublicURL,
		byName: map[string]*upstreamRepo{}, neg: neg, claims: claims, mediaTypes: mt, log: d.Log, stall: d.Stall, base: d.Base}
	if h.auth == nil {
		h.auth = auth.Anonymous{}
	}
	client := d.Client
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
func (h *Handler) Close() {
	h.neg.Close()
	h.mediaTypes.Close()
}

// Serve implements the /v2/ API.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Docker-Distribution-API-Version", "registry/2.0")
	path := string(ctx.Path())
	action, ok := actionOf(ctx)
	if !ok {
		ociError(ctx, codeUnsupported, "method not supported")
		return
	}
	if path == "/v2/" || path == "/v2" {
		if action != auth.Pull {
			ociError(ctx, codeUnsupported, "method not supported")
			return
		}
		h.ping(ctx)
		return
	}
	if path == "/v2/_catalog" {
		h.catalog(ctx, action)
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
	if req.kind == "uploads" {
		// Every request of an upload session, its status and its cancel
		// included, is part of a push by the session's owner.
		action = auth.Push
	}
	c, ok := h.authorize(ctx, action, req.name)
	if !ok {
		return
	}
	ns := string(ctx.QueryArgs().Peek("ns"))
	if action != auth.Pull {
		h.write(ctx, req, action, c.id)
		return
	}
	if ns == "" && h.hosted != nil && h.hosted.Exists(req.name) {
		h.serveHosted(ctx, req)
		return
	}
	if ns == "" && h.claimed(req.name) {
		h.serveUnpushed(ctx, req)
		return
	}
	h.serveProxied(ctx, req, ns, c)
}

// claimed reports whether hosted_names claims name.
func (h *Handler) claimed(name string) bool {
	for _, p := range h.claims {
		if p.Match(name) {
			return true
		}
	}
	return false
}

// write routes pushes and deletes, which only ever touch hosted state.
func (h *Handler) write(ctx *fasthttp.RequestCtx, req request, action auth.Action, id *auth.Identity) {
	if h.hosted == nil {
		ociError(ctx, codeUnsupported, "this registry is a read-only pull-through cache")
		return
	}
	httpx.SetLogInfo(ctx, req.name, "hosted")
	owner := ""
	if id != nil {
		owner = id.Name
	}
	switch {
	case req.kind == "uploads":
		h.upload(ctx, req, owner, id)
	case req.kind == "manifests" && ctx.IsPut():
		h.putManifest(ctx, req)
	case action == auth.Delete && (req.kind == "manifests" || req.kind == "blobs"):
		h.delete(ctx, req)
	default:
		ociError(ctx, codeUnsupported, "method not supported for this path")
	}
}

// serveProxied answers reads of names that are not hosted, from the cache
// and the upstreams.
func (h *Handler) serveProxied(ctx *fasthttp.RequestCtx, req request, ns string, c caller) {
	if req.kind == "referrers" {
		// Referrers are not fetched from upstreams (yet): a proxied
		// subject has none here.
		if _, err := parseDigest(req.ref); err != nil {
			ociError(ctx, codeDigestInvalid, "invalid digest")
			return
		}
		h.serveReferrers(ctx, nil)
		return
	}
	rt, err := h.resolve(req.name, ns)
	if err != nil {
		h.writeError(ctx, err, codeNameUnknown)
		return
	}
	httpx.SetLogInfo(ctx, rt.up.cfg.Name+"/"+rt.repo, "")
	notFound := codeManifestUnknown
	switch req.kind {
	case "manifests":
		err = h.manifest(ctx, rt, req.ref)
	case "blobs":
		notFound = codeBlobUnknown
		err = h.blob(ctx, rt, req.ref)
	case "tags":
		h.tags(ctx, rt, req.name)
		return
	}
	if err != nil && unreachable(err) && h.pushing(c, req.name) {
		ociError(ctx, notFound, "not here, and upstream "+rt.up.cfg.Name+" cannot be asked: absent for this push")
		return
	}
	if err != nil {
		h.writeError(ctx, err, notFound)
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

// unreachable reports whether a failure is the upstream's silence (down,
// offline, failing), the case in which a push's existence check is told
// "absent" rather than 503.
func unreachable(err error) bool {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.code == codeUnavailable
	}
	return upstream.IsUnavailable(err)
}

// upstreamDown reports whether a failure means "serve stale if you can".
func upstreamDown(err error) bool {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.code == codeUnavailable || ue.code == codeTooManyRequests
	}
	return upstream.IsUnavailable(err)
}
