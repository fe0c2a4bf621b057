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
//
// With [[tenants]] (nora/auth/tenant) every allowed /v2/ request counts
// against its tenant's rate limit (429 TOOMANYREQUESTS with Retry-After);
// a push, chunk, mount or manifest that would take a tenant past its
// storage quota is refused with 403 DENIED before its bytes are stored
// (a body of no declared length is cut off where it passes), and its
// session ends; a cold manifest GET from an upstream spends the tenant's
// share of the upstream's pull budget (429 once spent, cached manifests
// still served); cold blob fills run at the tenant's bandwidth.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/gobwas/glob"
	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"nora/auth"
	"nora/cache"
	"nora/hosted/oci"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
	"nora/upstream"
)

// Cache is what the handler needs of the cache: refs and blob presence for
// the freshness engine, the fills of blobs, small proxied manifests and
// tag lists.
type Cache interface {
	pull.RefStore
	pull.ArtifactStore
	PutBlob(ctx context.Context, d digest.Digest, b []byte) error
	// RedirectURL is a presigned URL of a committed object, "" if none.
	RedirectURL(ctx context.Context, key string) string
}

type upstreamRepo struct {
	cfg UpstreamConfig
	reg *upstream.Registry
}

// Handler serves /v2/.
type Handler struct {
	cfg       Config
	cache     Cache
	hosted    *oci.Registry // nil: no hosted repositories, writes refused
	auth      auth.Authorizer
	tokens    *auth.Tokens // nil: Basic credentials only
	publicURL string
	upstreams []*upstreamRepo // the first is the default
	byName    map[string]*upstreamRepo
	claims    []*glob.Pattern // hosted_names
	// mediaTypes remembers the media type of proxied manifests by digest,
	// so a warm GET by digest reads no ref file.
	mediaTypes *ristretto.Cache[string, string]
	mem        *manifestMem       // nil: the cache cannot tell a copy is current
	refs       *pull.Refs         // proxied tags: the one freshness rule
	artifacts  pull.Artifacts     // proxied blobs: the one fill
	meta       singleflight.Group // manifest fetches by digest
	log        *slog.Logger
	base       context.Context // the server's lifetime; see Deps.Base
}

// Deps are what the handler is built on.
type Deps struct {
	Cache  Cache
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
	refs, err := pull.NewRefs(d.Cache, d.Log, pull.WithBase(d.Base))
	if err != nil {
		return nil, err
	}
	mt, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 100_000, MaxCost: 10_000, BufferItems: 64})
	if err != nil {
		refs.Close()
		return nil, err
	}
	mem, err := newManifestMem(d.Cache)
	if err != nil {
		refs.Close()
		mt.Close()
		return nil, err
	}
	h := &Handler{cfg: cfg, cache: d.Cache, hosted: d.Hosted, auth: d.Auth, tokens: d.Tokens, publicURL: d.PublicURL,
		byName: map[string]*upstreamRepo{}, claims: claims, mediaTypes: mt, mem: mem, refs: refs,
		artifacts: pull.Artifacts{Store: d.Cache, Stall: d.Stall, Base: d.Base}, log: d.Log, base: d.Base}
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
	h.refs.Close()
	h.mediaTypes.Close()
	h.mem.close()
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
	var result string
	notFound := codeManifestUnknown
	switch req.kind {
	case "manifests":
		result, err = h.manifest(ctx, rt, req.ref)
	case "blobs":
		notFound = codeBlobUnknown
		result, err = h.blob(ctx, rt, req.ref)
	case "tags":
		notFound = codeNameUnknown
		result, err = h.tags(ctx, rt, req.name)
	}
	httpx.SetLogInfo(ctx, rt.up.cfg.Name+"/"+rt.repo, result)
	if err != nil && req.kind != "tags" && fault.KindOf(err) == fault.Unavailable && h.pushing(c, req.name) {
		ociError(ctx, notFound, "not here, and upstream "+rt.up.cfg.Name+" cannot be asked: absent for this push")
		return
	}
	if err != nil {
		h.writeError(ctx, err, notFound)
	}
}

// writeError is the proxied side's edge: it turns the kind of a failure
// into the OCI wire error (notFound is the code of a missing object here).
func (h *Handler) writeError(ctx *fasthttp.RequestCtx, err error, notFound string) {
	switch fault.KindOf(err) {
	case fault.NotFound:
		ociError(ctx, notFound, fault.Message(err))
	case fault.Denied:
		// Registries answer 401 for a repository that does not exist as
		// for one that needs credentials.
		ociError(ctx, codeNameUnknown, "upstream refused access: the repository does not exist or needs credentials")
	case fault.RateLimited:
		if !tooManyPulls(ctx, err) {
			tooManyRequests(ctx, fault.RetryAfter(err))
		}
	case fault.TooLarge:
		ociError(ctx, codeManifestInvalid, fault.Message(err))
	case fault.BadUpstream:
		msg := fault.Message(err)
		if errors.Is(err, cache.ErrVerify) {
			msg = "upstream sent content that does not match its digest; nothing was cached"
		}
		ociError(ctx, codeUnknown, msg)
	case fault.NoSpace:
		ociError(ctx, codeInsufficientStorage, httpx.NoSpaceMessage)
	case fault.Unavailable:
		h.log.Debug("docker upstream unavailable", "err", err)
		ociError(ctx, codeUnavailable, fault.Message(err))
	default:
		h.log.Warn("docker request failed", "err", err)
		ociError(ctx, codeUnavailable, "cannot fetch from upstream")
	}
}
