// Package pull is the one pull-through engine every format (OCI, npm, PyPI,
// Maven, cargo) uses: mutable references with TTL, revalidation,
// serve-stale and negative caching (Refs, DESIGN 2.2), documents on top of
// it (Docs); immutable artifacts filled once and verified (Artifact); the
// one classification of upstream answers (StatusError, Down); the base URL
// of rewritten links. No format gets its own freshness or fetch logic.
package pull

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	"nora/internal/fault"
	"nora/upstream"
)

// Deps is what every format handler is built from.
type Deps struct {
	Cache *cache.Cache
	// Auth decides who may publish (hosted packages) and, with
	// anonymous_read off, who may read.
	Auth   auth.Authorizer
	Client *upstream.Client
	Docs   *Docs
	Log    *slog.Logger
	// Stall bounds an upstream body that moves no byte.
	Stall time.Duration
	// PublicURL is server.public_url; "" means the request's Host.
	PublicURL string
	// Base lives as long as the server: work that outlives its request (a
	// fill other clients follow, a revalidation) derives its context from
	// it, so shutdown cancels it. nil means context.Background().
	Base context.Context
}

// Detached is a context for work that must outlive the request (DESIGN
// 2.1: a cancelled client does not waste a download) but not the server,
// bounded by timeout.
func (d Deps) Detached(timeout time.Duration) (context.Context, context.CancelFunc) {
	return Detached(d.Base, timeout)
}

// Detached is Deps.Detached for handlers that keep their own base.
func Detached(base context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if base == nil {
		base = context.Background()
	}
	return context.WithTimeout(base, timeout)
}

// ErrOffline answers what an offline upstream never gave us.
var ErrOffline = fault.New(fault.Unavailable, "upstream is offline and this was never cached")

// Unreachable classifies a failure to get any answer from upstream for
// what (a URL or a registry path, which it redacts).
func Unreachable(what string, err error) error {
	what = auth.RedactURL(what) // a configured upstream URL may carry a token
	return fault.Wrap(fault.Unavailable, err, "cannot fetch "+what+": upstream unreachable and not cached")
}

// StatusError classifies a non-2xx upstream answer for what (a URL, which
// it redacts), the one rule every format follows: 404 and 410 are NotFound,
// 401 and 403 Denied, 429 RateLimited with its Retry-After, 5xx
// Unavailable, anything else BadUpstream.
func StatusError(what string, status int, retryAfter string) error {
	what = auth.RedactURL(what)
	switch {
	case status == 404 || status == 410:
		return fault.New(fault.NotFound, what+" not found upstream")
	case status == 401 || status == 403:
		return fault.Newf(fault.Denied, "upstream refused access to %s (%d)", what, status)
	case status == 429:
		n, _ := strconv.Atoi(strings.TrimSpace(retryAfter))
		return &fault.Error{Kind: fault.RateLimited, Msg: "upstream rate limit reached", RetryAfter: n}
	case status >= 500:
		return fault.Newf(fault.Unavailable, "upstream failed on %s (%d) and it is not cached", what, status)
	}
	return fault.Newf(fault.BadUpstream, "upstream answered %d for %s", status, what)
}

// Down reports whether err means "serve stale if you can": the upstream is
// unreachable, failing or rate limiting.
func Down(err error) bool {
	k := fault.KindOf(err)
	return k == fault.Unavailable || k == fault.RateLimited || upstream.IsUnavailable(err)
}

// classify gives an error the engine returns a kind: a store or fill
// failure nobody classified is the upstream path failing, 503 as before.
func classify(err error) error {
	if err == nil || fault.KindOf(err) != fault.Internal {
		return err
	}
	return fault.Wrap(fault.Unavailable, err, "cannot fetch from upstream")
}

// BaseURL is the scheme://host[:port] that rewritten links point at:
// server.public_url if set, else the request's own Host.
func BaseURL(ctx *fasthttp.RequestCtx, publicURL string) string {
	if publicURL != "" {
		return strings.TrimSuffix(publicURL, "/")
	}
	scheme := "http"
	if ctx.IsTLS() || string(ctx.Request.Header.Peek("X-Forwarded-Proto")) == "https" {
		scheme = "https"
	}
	return scheme + "://" + string(ctx.Host())
}
