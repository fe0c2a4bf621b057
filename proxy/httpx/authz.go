package httpx

import (
	"bytes"

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
)

// NoWritesMessage tells the user how to enable writes.
const NoWritesMessage = "this nora accepts no uploads: set [auth] htpasswd to a file of users who may write"

// Credentials reads the request's credentials: Basic (a user and password,
// or a token as the password of any user name), a Bearer token (npm's
// _authToken) or a bare token as the whole header (cargo sends its
// registry token verbatim, so a "Basic <base64>" token is Basic too).
// present is false when there are none (an empty user and password count
// as none); id is nil when they are wrong. With no user source configured,
// credentials are ignored (there is nobody to be), so a stale client login
// does not break anonymous reads.
func Credentials(ctx *fasthttp.RequestCtx, a auth.Authorizer) (id *auth.Identity, present bool) {
	hdr := bytes.TrimSpace(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if len(hdr) == 0 || !a.WritesEnabled() {
		return nil, false
	}
	user, pass, reason := ParseBasic(hdr)
	switch {
	case reason == ReasonNotBasic:
		pass = string(bearerToken(hdr))
	case reason != "":
		return nil, true
	case user == "" && pass == "":
		return nil, false
	}
	id, err := a.Authenticate(user, pass)
	if err != nil {
		return nil, true
	}
	return id, true
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
		return nil, NoWrites
	}
	id, present := Credentials(ctx, a)
	switch {
	case present && id == nil:
		return nil, BadCredentials
	case a.Allowed(id, action, format, name):
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
	}
	return ""
}

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

// Refuse answers the refusal d of action on what with write, and a 401
// with BasicChallenge (set after write, since error writers reset the
// response).
func Refuse(ctx *fasthttp.RequestCtx, d Decision, action auth.Action, what string, write WireError) {
	write(ctx, d.Status(), d.Message(action, what))
	if d.Status() == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, BasicChallenge)
	}
}
