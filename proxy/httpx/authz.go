package httpx

import (
	"bytes"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// Decision is the outcome of Authorize; each format answers a refusal in
// its own wire shape.
type Decision int

const (
	Allowed        Decision = iota
	NoWrites                // no user source configured: nobody may write
	BadCredentials          // credentials sent but wrong: 401
	LoginRequired           // anonymous and not allowed: 401 with a challenge
	Denied                  // a known user without the permission: 403
	// TooManyAttempts: too many failed logins from this address or for
	// this user lately; refused unchecked, 429 with Retry-After.
	TooManyAttempts
	// RateLimited: the tenant's (or the anonymous address's) request rate
	// limit is spent (Admit); 429 with Retry-After.
	RateLimited
)

// NoWritesMessage tells the user how to enable writes.
const NoWritesMessage = "this nora accepts no uploads: set [auth] htpasswd to a file of users who may write"

// Credentials reads the request's credentials: Basic (a user and password,
// or a token as the password of any user name), a Bearer token (npm's
// _authToken) or a bare token as the whole header (cargo sends its
// registry token verbatim, so a "Basic <base64>" token is Basic too).
// present is false when there are none (an empty user and password count
// as none); id is nil when they are wrong, or when too many logins failed
// lately (Login tells which). With no user source configured, credentials
// are ignored (there is nobody to be), so a stale client login does not
// break anonymous reads.
func Credentials(ctx *fasthttp.RequestCtx, a auth.Authorizer) (id *auth.Identity, present bool) {
	id, d := Login(ctx, a)
	return id, id != nil || d != Allowed
}

// Login is Credentials with the reason of a refusal: Allowed (id nil when
// no credentials were sent), BadCredentials or TooManyAttempts.
func Login(ctx *fasthttp.RequestCtx, a auth.Authorizer) (*auth.Identity, Decision) {
	hdr := bytes.TrimSpace(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if len(hdr) == 0 || !a.WritesEnabled() {
		return nil, Allowed
	}
	user, pass, reason := ParseBasic(hdr)
	switch {
	case reason == ReasonNotBasic:
		pass = string(bearerToken(hdr))
	case reason != "":
		loginFailed(ctx, "")
		return nil, BadCredentials
	case user == "" && pass == "":
		return nil, Allowed
	}
	return Authenticate(ctx, a, user, pass)
}

// Authenticate is a.Authenticate within the limits of the server's Guard
// (Attach): once too many logins from the client's address or for user
// failed, it answers TooManyAttempts without asking a, so that guessing
// costs no password check. A failure is recorded for the audit log.
func Authenticate(ctx *fasthttp.RequestCtx, a auth.Authorizer, user, pass string) (*auth.Identity, Decision) {
	g := guardOf(ctx)
	at, wait := g.begin(ClientAddr(ctx), user)
	if wait > 0 {
		loginFailed(ctx, user)
		auditInfo(ctx).RetryAfter = wait
		return nil, TooManyAttempts
	}
	id, err := a.Authenticate(user, pass)
	g.end(at, err == nil)
	if err != nil {
		loginFailed(ctx, user)
		return nil, BadCredentials
	}
	return id, Allowed
}

// bearerToken is the token of "Bearer <token>", or the whole header when
// it is one word (cargo's raw token).
func bearerToken(hdr []byte) []byte {
	scheme, value, found := bytes.Cut(hdr, []byte(" "))
	if !found {
		return hdr
	}
	if bytes.EqualFold(scheme, []byte("Bearer")) {
		return bytes.TrimSpace(value)
	}
	return nil
}

// Authorize decides whether the request may do action on name in format.
func Authorize(ctx *fasthttp.RequestCtx, a auth.Authorizer, action auth.Action, format, name string) (*auth.Identity, Decision) {
	if action != auth.Pull && !a.WritesEnabled() {
		SetActor(ctx, nil, action, format, name)
		return nil, NoWrites
	}
	id, d := Login(ctx, a)
	SetActor(ctx, id, action, format, name)
	switch {
	case d != Allowed:
		return nil, d
	case a.Allowed(id, action, format, name):
		if d := Admit(ctx, id, action, format, name); d != Allowed {
			return nil, d
		}
		return id, Allowed
	case id == nil:
		return nil, LoginRequired
	}
	return id, Denied
}

// Status is the HTTP status of a refusal.
func (d Decision) Status() int {
	switch d {
	case BadCredentials, LoginRequired:
		return fasthttp.StatusUnauthorized
	case NoWrites, Denied:
		return fasthttp.StatusForbidden
	case TooManyAttempts, RateLimited:
		return fasthttp.StatusTooManyRequests
	}
	return fasthttp.StatusOK
}

// Message is a short explanation of a refusal for the client.
func (d Decision) Message(action auth.Action, name string) string {
	switch d {
	case NoWrites:
		return NoWritesMessage
	case BadCredentials:
		return "invalid user name or password"
	case LoginRequired:
		return "authentication required to " + string(action) + " " + name
	case Denied:
		return "not allowed to " + string(action) + " " + name
	case TooManyAttempts:
		return TooManyAttemptsMessage
	case RateLimited:
		return "rate limit reached; retry later"
	}
	return ""
}

// TooManyAttemptsMessage answers a login refused by the Guard.
const TooManyAttemptsMessage = "too many failed logins from this address or for this user; retry later"

// BasicChallenge is the WWW-Authenticate of a 401 from the package
// formats: npm, pip, twine, mvn and cargo answer it with the Basic
// credentials they were configured with.
const BasicChallenge = `Basic realm="nora"`

// WireError writes an error in a format's own shape (npm's JSON, PyPI's
// plain text, ...).
type WireError func(ctx *fasthttp.RequestCtx, status int, msg string)

// Gate is Authorize for the package formats: it answers a refusal itself
// (Refuse) and reports whether the request may go on.
func Gate(ctx *fasthttp.RequestCtx, a auth.Authorizer, action auth.Action, format, name, what string, write WireError) (*auth.Identity, bool) {
	id, d := Authorize(ctx, a, action, format, name)
	if d == Allowed {
		return id, true
	}
	Refuse(ctx, d, action, what, write)
	return nil, false
}

// Refuse answers the refusal d of action on what with write, a 401 with
// BasicChallenge and a 429 with Retry-After (set after write, since error
// writers reset the response).
func Refuse(ctx *fasthttp.RequestCtx, d Decision, action auth.Action, what string, write WireError) {
	msg := d.Message(action, what)
	if ai, _ := Audit(ctx); d == RateLimited && ai.Refusal != "" {
		msg = ai.Refusal
	}
	write(ctx, d.Status(), msg)
	switch d.Status() {
	case fasthttp.StatusUnauthorized:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, BasicChallenge)
	case fasthttp.StatusTooManyRequests:
		SetLoginRetryAfter(ctx)
	}
}

// SetLoginRetryAfter sets Retry-After on the answer to a login the Guard
// refused (TooManyAttempts) or a request over a rate limit (RateLimited),
// in whole seconds, at least 1.
func SetLoginRetryAfter(ctx *fasthttp.RequestCtx) {
	ai, _ := Audit(ctx)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.FormatInt(RetryAfterSeconds(ai.RetryAfter), 10))
}

// RetryAfterSeconds is d in whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// secondsOf is n seconds as a Duration.
func secondsOf(n int) time.Duration { return time.Duration(n) * time.Second }
