package httpx

import (
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// AuditInfo is what authorizing a request saw, for the audit line the
// server writes when the request is a write, a refusal or a failed login.
type AuditInfo struct {
	// Actor is auth.ActorOf the caller, or the user name a failed login
	// claimed (never its password).
	Actor  string
	Action auth.Action // "" when nothing was authorized
	Format string
	Name   string
	// LoginFailed: credentials were sent and were wrong.
	LoginFailed bool
	// RetryAfter > 0: the login was refused unchecked, too many failed
	// before it (TooManyAttempts), or a rate limit was spent (RateLimited).
	RetryAfter time.Duration
	// Refusal is the message of a RateLimited refusal (it names the
	// tenant and the limit).
	Refusal string
}

// auditKey is the user value holding a request's *AuditInfo.
type auditKey struct{}

func auditInfo(ctx *fasthttp.RequestCtx) *AuditInfo {
	if ai, ok := ctx.UserValue(auditKey{}).(*AuditInfo); ok {
		return ai
	}
	ai := &AuditInfo{}
	ctx.SetUserValue(auditKey{}, ai)
	return ai
}

// SetActor records who asked to do action on name in format: Authorize
// does, and handlers that authorize on their own (docker) call it.
func SetActor(ctx *fasthttp.RequestCtx, id *auth.Identity, action auth.Action, format, name string) {
	ai := auditInfo(ctx)
	if id != nil || !ai.LoginFailed {
		ai.Actor = auth.ActorOf(id)
	}
	ai.Action, ai.Format, ai.Name = action, format, name
}

// loginFailed records a failed login by user ("" for a bare token).
func loginFailed(ctx *fasthttp.RequestCtx, user string) {
	ai := auditInfo(ctx)
	ai.LoginFailed = true
	ai.Actor = user
	if user == "" {
		ai.Actor = auth.AnonymousActor
	}
}

// Audit returns what was recorded about ctx, if anything.
func Audit(ctx *fasthttp.RequestCtx) (AuditInfo, bool) {
	if ai, ok := ctx.UserValue(auditKey{}).(*AuditInfo); ok {
		return *ai, true
	}
	return AuditInfo{}, false
}
