// Package pull holds the pull-through building blocks the package formats
// (npm, PyPI, Maven, cargo) share: mutable documents with TTL, conditional
// revalidation, serve-stale and negative caching (DESIGN 2.2); immutable
// artifacts filled once and verified; the base URL of rewritten links. No
// format gets its own storage or fetch logic.
package pull

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
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
}

// Kind classifies a pull failure; each format turns it into its own wire
// error.
type Kind int

const (
	KindNotFound    Kind = iota + 1 // a real upstream 404/410 (or remembered one)
	KindUnavailable                 // upstream down, offline, 5xx: 503
	KindRateLimited                 // upstream 429: 429 with Retry-After
	KindDenied                      // upstream 401/403
	KindInvalid                     // upstream sent something unusable (too big, bad bytes): 502
)

// Error is a classified pull failure.
type Error struct {
	Kind       Kind
	Msg        string
	RetryAfter int // seconds, for KindRateLimited
}

func (e *Error) Error() string { return e.Msg }

// KindOf returns the Kind of err (KindUnavailable for unclassified errors,
// KindInvalid for content that failed verification).
func KindOf(err error) Kind {
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return pe.Kind
	case errors.Is(err, cache.ErrVerify):
		return KindInvalid
	case errors.Is(err, cache.ErrNotFound):
		return KindNotFound
	}
	return KindUnavailable
}

// Status is the HTTP status that fits err's Kind.
func Status(err error) int {
	switch KindOf(err) {
	case KindNotFound:
		return fasthttp.StatusNotFound
	case KindRateLimited:
		return fasthttp.StatusTooManyRequests
	case KindDenied:
		return fasthttp.StatusForbidden
	case KindInvalid:
		return fasthttp.StatusBadGateway
	}
	return fasthttp.StatusServiceUnavailable
}

// SetRetryAfter adds Retry-After for a rate-limited err.
func SetRetryAfter(ctx *fasthttp.RequestCtx, err error) {
	var pe *Error
	if errors.As(err, &pe) && pe.Kind == KindRateLimited {
		n := pe.RetryAfter
		if n <= 0 {
			n = 60
		}
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(n))
	}
}

var errOffline = &Error{Kind: KindUnavailable, Msg: "upstream is offline and this was never cached"}

func unavailable(what string, err error) error {
	what = auth.RedactURL(what) // a configured upstream URL may carry a token
	return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf("cannot fetch %s: upstream unreachable and not cached: %v", what, err)}
}

// statusError classifies a non-2xx upstream answer.
func statusError(what string, status int, retryAfter string) error {
	what = auth.RedactURL(what)
	switch {
	case status == 404 || status == 410:
		return &Error{Kind: KindNotFound, Msg: what + " not found upstream"}
	case status == 401 || status == 403:
		return &Error{Kind: KindDenied, Msg: fmt.Sprintf("upstream refused access to %s (%d)", what, status)}
	case status == 429:
		n, _ := strconv.Atoi(strings.TrimSpace(retryAfter))
		return &Error{Kind: KindRateLimited, Msg: "upstream rate limit reached", RetryAfter: n}
	case status >= 500:
		return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf("upstream failed on %s (%d) and it is not cached", what, status)}
	}
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("upstream answered %d for %s", status, what)}
}

// down reports whether err means "serve stale if you can".
func down(err error) bool {
	k := KindOf(err)
	return k == KindUnavailable || k == KindRateLimited
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
