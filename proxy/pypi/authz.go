package pypi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/proxy/httpx"
)

// authorize decides whether the request may do action on project ("" for
// the root) and answers a refusal itself: 401 with a challenge for missing
// or wrong credentials, 403 for a user without the permission or when no
// one may write at all.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, project string) bool {
	_, ok := httpx.Gate(ctx, h.auth, action, "pypi", project, subject(project), reasonError)
	return ok
}

// refuse writes the refusal d. The reason phrase carries the message too:
// twine prints the reason, not the body.
func (h *Handler) refuse(ctx *fasthttp.RequestCtx, d httpx.Decision, action auth.Action, project string) {
	httpx.Refuse(ctx, d, action, subject(project), reasonError)
}

// subject names project in a refusal; "" is the whole index.
func subject(project string) string {
	if project == "" {
		return "this index"
	}
	return project
}

// reasonError is plainError with msg as the status line's reason phrase as
// well, as PyPI answers uploads ("400 File already exists").
func reasonError(ctx *fasthttp.RequestCtx, status int, msg string) {
	plainError(ctx, status, msg)
	reason := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, msg)
	if len(reason) > 200 {
		reason = reason[:200]
	}
	ctx.Response.Header.SetStatusMessage([]byte(reason))
}
