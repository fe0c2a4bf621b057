package httpx

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
)

// kindStatus is the HTTP status of each kind, the default every format's
// edge starts from (a protocol with other rules overrides it there).
var kindStatus = [...]int{
	fault.Internal:    fasthttp.StatusInternalServerError,
	fault.NotFound:    fasthttp.StatusNotFound,
	fault.Invalid:     fasthttp.StatusBadRequest,
	fault.Conflict:    fasthttp.StatusConflict,
	fault.TooLarge:    fasthttp.StatusRequestEntityTooLarge,
	fault.Denied:      fasthttp.StatusForbidden,
	fault.Unavailable: fasthttp.StatusServiceUnavailable,
	fault.RateLimited: fasthttp.StatusTooManyRequests,
	fault.BadUpstream: fasthttp.StatusBadGateway,
	fault.NoSpace:     fasthttp.StatusInsufficientStorage,
	fault.Gone:        fasthttp.StatusGone,
}

// Status is the HTTP status of err's kind.
func Status(err error) int {
	if k := int(fault.KindOf(err)); k < len(kindStatus) {
		return kindStatus[k]
	}
	return fasthttp.StatusInternalServerError
}

// SetRetryAfter adds Retry-After to the answer of a rate-limited err (60
// seconds when the cause did not say).
func SetRetryAfter(ctx *fasthttp.RequestCtx, err error) {
	if fault.KindOf(err) != fault.RateLimited {
		return
	}
	n := fault.RetryAfter(err)
	if n <= 0 {
		n = 60
	}
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(n))
}
