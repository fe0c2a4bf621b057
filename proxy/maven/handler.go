// Package maven serves a Maven repository (/maven2/): the site's own
// artifacts, deployed with PUT (mvn deploy) and kept in hosted state
// (nora/hosted/maven), and a pull-through cache of one or more upstream
// repositories, tried in order, for everything else.
//
// An artifact directory (groupId/artifactId) that exists hosted is served
// from hosted state only, metadata included, and upstream is never asked
// about it (DESIGN 2.4): a public artifact of the same coordinates cannot
// replace or join it (dependency confusion).
//
// Upstream release files are immutable: each is fetched once, verified
// against the upstream's .sha1 and stored by sha256. maven-metadata.xml and
// non-unique SNAPSHOT files are mutable documents with a TTL. Checksum
// files of what nora has cached are computed from the bytes it serves, so a
// client that checks them never sees a mismatch because a document changed
// upstream.
package maven

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/maven"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
	"nora/upstream"
)

const (
	// prefix is where the repository is mounted (DESIGN 3.1).
	prefix = "/maven2/"
	// requestWait bounds what a request waits for before its response
	// starts (upstream answers, a fill's headers); never a body's transfer.
	requestWait = 3 * time.Minute
)

// upstreamRepo is one [[maven.upstreams]] entry ready to use.
type upstreamRepo struct {
	id      string // short hash of the base URL: its documents' cache key segment
	reg     *upstream.Registry
	offline bool
}

// objects is what the handler needs of the cache beyond what pull does for
// it: cached files and the checksums it computes of them.
type objects interface {
	OpenNamed(ctx context.Context, name string) (*cache.Object, error)
	Open(ctx context.Context, key string) (*cache.Object, error)
	Ref(ctx context.Context, key string) (cache.Ref, error)
	PutRef(ctx context.Context, key string, r cache.Ref) error
	PutBlob(ctx context.Context, d digest.Digest, b []byte) error
	CountResult(result string)
}

// Handler serves /maven2/.
type Handler struct {
	cfg    Config
	deps   pull.Deps
	cache  objects
	auth   auth.Authorizer
	hosted *hosted.Registry
	ups    []*upstreamRepo
	neg    *cache.Negative    // artifacts an upstream answered 404 for, by upstream and path
	sums   singleflight.Group // checksums computed from cached artifacts
}

// New builds the handler over the hosted state reg, which the wiring
// opens.
func New(cfg Config, deps pull.Deps, reg *hosted.Registry) (*Handler, error) {
	if deps.Cache == nil || deps.Docs == nil || deps.Client == nil || reg == nil {
		return nil, errors.New("cannot set up maven: cache, documents, upstream client and hosted state are required")
	}
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = DefaultConfig().MaxUploadSize
	}
	h := &Handler{cfg: cfg, deps: deps, cache: deps.Cache, auth: deps.Auth, hosted: reg}
	if h.auth == nil {
		h.auth = auth.Anonymous{}
	}
	var err error
	for i, u := range cfg.Upstreams {
		reg, err := deps.Client.Registry(upstream.RegistryOptions{
			Name: upstreamName(i), URL: u.URL, Username: u.Username, Password: u.Password,
		})
		if err != nil {
			return nil, fmt.Errorf("cannot set up maven upstream %d: %w", i+1, err)
		}
		sum := sha256.Sum256([]byte(reg.BaseURL()))
		h.ups = append(h.ups, &upstreamRepo{id: hex.EncodeToString(sum[:8]), reg: reg, offline: cfg.Offline || u.Offline})
	}
	if h.neg, err = cache.NewNegative(cache.NegativeEntries); err != nil {
		return nil, err
	}
	return h, nil
}

// life is the server's lifetime: the context of a deploy, which must
// commit whole once its body is in but not outlive the server, and bounds
// its own steps.
func (h *Handler) life() context.Context {
	if h.deps.Base == nil {
		return context.Background()
	}
	return h.deps.Base
}

// Close releases the handler's memory caches.
func (h *Handler) Close() { h.neg.Close() }

// upstreamName labels the i-th (0-based) upstream's metrics and logs the
// way the other formats' are: "maven", then "maven-2", "maven-3" in the
// order of the configuration. A URL in a label would be long and could
// carry a path segment that is a secret.
func upstreamName(i int) string {
	if i == 0 {
		return "maven"
	}
	return "maven-" + strconv.Itoa(i+1)
}

// Serve implements GET and HEAD of any repository path, and PUT (deploy).
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() && !ctx.IsPut() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD, PUT")
		plainError(ctx, fasthttp.StatusMethodNotAllowed, "a maven repository answers GET and HEAD, and PUT to deploy")
		return
	}
	// The path as sent, not fasthttp's decoded and normalized one: a Maven
	// path never needs escapes, and "..", "//" or "%2e" must be refused
	// rather than resolved.
	rest, ok := strings.CutPrefix(string(ctx.Request.URI().PathOriginal()), prefix)
	req, err := parsePath(rest)
	if !ok || err != nil {
		plainError(ctx, fasthttp.StatusBadRequest, "invalid maven repository path")
		return
	}
	httpx.SetLogInfo(ctx, req.name, "")
	// Upstream calls and cache reads get a context of their own: the
	// RequestCtx must not outlive the handler, and a context derived from
	// it could (net/http watches its parent from another goroutine).
	c, cancel := h.deps.Detached(requestWait)
	defer cancel()
	if ctx.IsPut() {
		h.deploy(ctx, c, req)
		return
	}
	if _, ok := h.authorize(ctx, auth.Pull, req.coordinate()); !ok {
		return
	}
	// Hosted first (DESIGN 2.4): a hosted directory is never asked upstream.
	if h.serveHosted(ctx, c, req) {
		return
	}
	switch {
	case req.kind == kindDoc:
		h.serveDoc(ctx, c, req)
	case req.sum != "":
		h.serveArtifactSum(ctx, c, req)
	default:
		h.serveArtifact(ctx, c, req)
	}
}

// rank orders failures by what the client should learn from them when no
// upstream had the path: content that failed verification, then "retry
// later", then "refused", and a 404 only when every upstream said so.
func rank(err error) int {
	switch fault.KindOf(err) {
	case fault.BadUpstream:
		return 4
	case fault.RateLimited:
		return 3
	case fault.Unavailable:
		return 2
	case fault.Denied:
		return 1
	}
	return 0
}

var errNoUpstream = fault.New(fault.NotFound, "no maven upstream is configured")

// firstHit runs try on each upstream in order until one has the path. A
// miss, a refusal or an outage moves on to the next; when none has it the
// most telling failure is returned (see rank).
func (h *Handler) firstHit(try func(u *upstreamRepo) error) error {
	if len(h.ups) == 0 {
		return errNoUpstream
	}
	var worst error
	for _, u := range h.ups {
		err := try(u)
		if err == nil {
			return nil
		}
		if worst == nil || rank(err) > rank(worst) {
			worst = err
		}
	}
	return worst
}

// fail answers a failure of the data path as plain text (pull.Deps.Fail).
func (h *Handler) fail(ctx *fasthttp.RequestCtx, req request, err error) {
	h.deps.Fail(ctx, "maven", req.path(), err, plainError)
}

// plainError writes a plain-text error; HEAD gets the status and headers.
func plainError(ctx *fasthttp.RequestCtx, status int, msg string) {
	allow := string(ctx.Response.Header.Peek(fasthttp.HeaderAllow))
	ctx.Response.Reset()
	if allow != "" {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	body := msg + "\n"
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBodyString(body)
}

// contentType is what a repository file is served as.
func contentType(file string) string {
	ext := file[strings.LastIndexByte(file, '.')+1:]
	switch ext {
	case "jar", "war", "ear", "rar":
		return "application/java-archive"
	case "pom", "xml":
		return "text/xml"
	case "module", "json":
		return "application/json"
	case "asc", "md5", "sha1", "sha256", "sha512":
		return "text/plain"
	}
	return "application/octet-stream"
}
