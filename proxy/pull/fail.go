package pull

import (
	"errors"
	"log/slog"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// Fail answers a failed pull of what ("lodash", "demo-1.0.whl", a Maven
// path) in a format's own shape, with one wording for every package
// format: a real upstream 404 stays 404 (clients remember it), an outage
// or an unclassified failure of the pull path is 503 (never 404), a rate
// limit 429 with Retry-After, bad upstream bytes 502, a full disk 507.
// What the client does not see goes to the log.
func (d Deps) Fail(ctx *fasthttp.RequestCtx, format, what string, err error, write httpx.WireError) {
	status, msg := httpx.Status(err), ""
	switch fault.KindOf(err) {
	case fault.NotFound:
		msg = what + " not found upstream"
	case fault.RateLimited:
		msg = "upstream rate limit reached; retry later"
	case fault.Denied:
		msg = "upstream refused access to " + what
	case fault.BadUpstream:
		msg = "upstream sent an unusable " + what + "; nothing was cached"
		if errors.Is(err, cache.ErrVerify) {
			msg = "upstream sent " + what + " with content that does not match its declared checksum; nothing was cached"
		}
		d.log().Warn(format+" upstream sent unusable content", "what", what, "err", err)
	case fault.NoSpace:
		msg = httpx.NoSpaceMessage
		d.log().Error(format+": storage is full", "what", what, "err", err)
	default:
		status = fasthttp.StatusServiceUnavailable
		msg = "upstream unreachable and " + what + " is not cached"
		d.log().Debug(format+" upstream unavailable", "what", what, "err", err)
	}
	write(ctx, status, msg)
	httpx.SetRetryAfter(ctx, err)
}

func (d Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
