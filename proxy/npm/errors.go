package npm

import (
	"bytes"
	"encoding/json"

	"nora/internal/fault"
	"nora/proxy/httpx"

	"github.com/valyala/fasthttp"
)

// npmError writes npm's error shape, {"error":"..."}. HEAD gets the status
// and headers only.
func npmError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // messages show <host> and the like
	_ = enc.Encode(struct {
		Error string `json:"error"`
	}{msg})
	setBody(ctx, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// setBody answers with b, or for HEAD with its length only.
func setBody(ctx *fasthttp.RequestCtx, b []byte) {
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(b))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

// pullError translates a failure of the data path into npm's wire shape.
// An unclassified failure on the way to the upstream is 503, as an
// outage: the client retries.
func (h *Handler) pullError(ctx *fasthttp.RequestCtx, err error, what string) {
	status := httpx.Status(err)
	var msg string
	switch fault.KindOf(err) {
	case fault.NotFound:
		msg = what + " not found"
	case fault.RateLimited:
		msg = "the upstream registry is rate limiting; retry later"
	case fault.Denied:
		msg = "the upstream registry refused access to " + what
	case fault.BadUpstream:
		msg = "the upstream registry sent an invalid " + what + "; nothing was cached"
		h.deps.Log.Warn("npm upstream sent invalid content", "what", what, "err", err)
	case fault.NoSpace:
		msg = httpx.NoSpaceMessage
		h.deps.Log.Error("npm: storage is full", "what", what, "err", err)
	default:
		status = fasthttp.StatusServiceUnavailable
		msg = what + " is not cached and the upstream registry is unreachable"
		h.deps.Log.Debug("npm upstream unavailable", "what", what, "err", err)
	}
	npmError(ctx, status, msg)
	httpx.SetRetryAfter(ctx, err)
}
