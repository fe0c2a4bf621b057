package httpx

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
)

// Status is the HTTP status of err's kind, the default every format's edge
// starts from (a protocol with other rules overrides it there).
func Status(err error) int {
	switch fault.KindOf(err) {
	case fault.NotFound:
		return fasthttp.StatusNotFound
	case fault.Invalid:
		return fasthttp.StatusBadRequest
	case fault.Conflict:
		return fasthttp.StatusConflict
	case fault.TooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case fault.Denied:
		return fasthttp.StatusForbidden
	case fault.Unavailable:
		return fasthttp.StatusServiceUnavailable
	case fault.RateLimited:
		return fasthttp.StatusTooManyRequests
	case fault.BadUpstream:
		return fasthttp.StatusBadGateway
	case fault.NoSpace:
		return fasthttp.StatusInsufficientStorage
	case fault.Gone:
		return fasthttp.StatusGone
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
