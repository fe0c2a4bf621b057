package cargo

import (
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

type errorDetail struct {
	Detail string `json:"detail"`
}

// cargoError writes cargo's registry error shape,
// {"errors":[{"detail":"..."}]}; cargo shows the detail to the user.
func cargoError(ctx *fasthttp.RequestCtx, status int, detail string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	b, _ := json.Marshal(struct {
		Errors []errorDetail `json:"errors"`
	}{[]errorDetail{{detail}}})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fail translates an error of the data path into the wire shape: a real
// upstream 404 stays 404 (cargo reads it as "no such crate"), an outage is
// 503, a rate limit 429 with Retry-After, bad upstream bytes 502. The
// detail is the error's client message; its cause goes to the log.
func (h *Handler) fail(ctx *fasthttp.RequestCtx, crate string, err error) {
	switch k := fault.KindOf(err); {
	case errors.Is(err, cache.ErrVerify):
		err = fault.Wrap(fault.BadUpstream, err, "upstream sent a .crate that does not match the index checksum; nothing was cached")
	case k != fault.NotFound && k != fault.RateLimited && k != fault.Denied && k != fault.BadUpstream && k != fault.Unavailable:
		// Unclassified: the upstream path failed somewhere.
		h.deps.Log.Warn("cargo request failed", "crate", crate, "err", err)
		err = fault.Wrap(fault.Unavailable, err, "cannot fetch from upstream")
	}
	cargoError(ctx, httpx.Status(err), fault.Message(err))
	httpx.SetRetryAfter(ctx, err)
}
