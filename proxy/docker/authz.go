package docker

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// basicChallenge is the WWW-Authenticate of every 401 while nora takes
// Basic credentials only (no user can write, or no token issuer).
const basicChallenge = `Basic realm="nora"`

// actionOf is what a method does to a repository.
func actionOf(ctx *fasthttp.RequestCtx) (auth.Action, bool) {
	switch {
	case ctx.IsGet(), ctx.IsHead():
		return auth.Pull, true
	case ctx.IsPost(), ctx.IsPut(), ctx.IsPatch():
		return auth.Push, true
	case ctx.IsDelete():
		return auth.Delete, true
	}
	return "", false
}

// bearer reports whether nora challenges with Bearer tokens: when someone
// can write. docker and containers/image decide from the /v2/ ping alone
// whether to authenticate, so the ping must challenge anonymous callers
// even while anonymous reads are on; with the token flow they then fetch
// an anonymous pull token, or one for their login, and pushes carry
// credentials. Without writes nothing changes for anyone: the ping lets
// everyone in, as registry mirrors expect.
func (h *Handler) bearer() bool { return h.tokens != nil && h.auth.WritesEnabled() }

// caller is who sent a request, as its Authorization header says.
type caller struct {
	id     *auth.Identity
	claims *auth.Claims // set for a valid bearer token
	// refused explains credentials that were sent and are wrong: a bad
	// password, an invalid or expired token, an unknown scheme.
	refused string
	// throttled: refused unchecked, too many logins failed lately.
	throttled bool
}

// none reports whether the request carried no credentials.
func (c caller) none() bool { return c.id == nil && c.claims == nil && c.refused == "" }

// caller reads the request's Basic credentials or bearer token. No header,
// and an empty user name and password (containers/image sends those after
// a Basic challenge when it has no login), are anonymous.
//
// With no user source configured there is nobody to be: credentials a
// client sends anyway (a stale docker login) are ignored, not refused.
func (h *Handler) caller(ctx *fasthttp.RequestCtx) caller {
	hdr := bytes.TrimSpace(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if len(hdr) == 0 || !h.auth.WritesEnabled() {
		return caller{}
	}
	if scheme, token, _ := bytes.Cut(hdr, []byte(" ")); bytes.EqualFold(scheme, []byte("Bearer")) && h.tokens != nil {
		claims, err := h.tokens.Verify(string(bytes.TrimSpace(token)))
		switch {
		case errors.Is(err, auth.ErrTokenExpired):
			return caller{refused: "token expired"}
		case err != nil:
			return caller{refused: "invalid token"}
		}
		return caller{id: claims.Identity(), claims: claims}
	}
	user, pass, reason := httpx.ParseBasic(hdr)
	switch {
	case reason != "":
		return caller{refused: reason}
	case user == "" && pass == "":
		return caller{}
	}
	id, d := httpx.Authenticate(ctx, h.auth, user, pass)
	switch d {
	case httpx.TooManyAttempts:
		return caller{refused: httpx.TooManyAttemptsMessage, throttled: true}
	case httpx.BadCredentials:
		return caller{refused: "invalid user name or password"}
	}
	return caller{id: id}
}

// authorize decides whether the request may do action on repository name
// ("" is the catalog). It answers the refusal itself and returns false:
// 401 with a challenge for missing or wrong credentials and for a token
// that does not cover the request (the client fetches one that does), 403
// for a known user without the permission or when no one can write at
// all. A token grants what it lists, within what its subject may still
// do; anything anonymous callers may do needs no token.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, name string) (caller, bool) {
	if action != auth.Pull && !h.auth.WritesEnabled() {
		httpx.SetActor(ctx, nil, action, "docker", name)
		ociError(ctx, codeDenied, "this nora accepts no pushes or deletes: set [auth] htpasswd to a file of users who may write")
		return caller{}, false
	}
	c := h.caller(ctx)
	httpx.SetActor(ctx, c.id, action, "docker", name)
	if c.refused != "" {
		h.refuseCaller(ctx, c, h.scopes(ctx, action, name))
		return caller{}, false
	}
	what := name
	if name == "" {
		what = "the catalog"
	}
	allowed := h.auth.Allowed(c.id, action, "docker", name)
	if allowed && c.claims != nil {
		typ, res, act := "repository", name, action
		if name == "" {
			typ, res, act = "registry", "catalog", auth.All
		}
		allowed = c.claims.Allows(typ, res, act) || h.auth.Allowed(nil, action, "docker", name)
		if !allowed {
			h.unauthorized(ctx, "token does not grant "+string(action)+" on "+what, h.scopes(ctx, action, name))
			return caller{}, false
		}
	}
	switch {
	case allowed:
		if !h.admit(ctx, c.id, action, name) {
			return caller{}, false
		}
		return c, true
	case c.id == nil:
		h.unauthorized(ctx, "authentication required to "+string(action)+" "+what, h.scopes(ctx, action, name))
	default:
		ociError(ctx, codeDenied, "user "+c.id.Name+" may not "+string(action)+" "+what)
	}
	return caller{}, false
}

// admit counts an allowed request against its tenant's rate limits (the
// catalog is a pull like any other). Over a limit it answers 429
// TOOMANYREQUESTS with the limit's message and Retry-After, and returns
// false.
func (h *Handler) admit(ctx *fasthttp.RequestCtx, id *auth.Identity, action auth.Action, name string) bool {
	if httpx.Admit(ctx, id, action, "docker", name) != httpx.RateLimited {
		return true
	}
	ai, _ := httpx.Audit(ctx)
	ociError(ctx, codeTooManyRequests, ai.Refusal)
	httpx.SetLoginRetryAfter(ctx) // after the body: ociError resets the response
	return false
}

// pushing reports whether the caller of a read is pushing to name: its
// token was issued for a push there (docker, crane and containers/image
// ask for pull,push before they check which blobs and tags exist), or,
// while nora takes Basic credentials only, it may push there. A login
// that only pulls fetches a pull token and is not pushing.
func (h *Handler) pushing(c caller, name string) bool {
	if h.hosted == nil || c.id == nil || !h.auth.Allowed(c.id, auth.Push, "docker", name) {
		return false
	}
	if c.claims != nil {
		return c.claims.Allows("repository", name, auth.Push)
	}
	return !h.bearer()
}

// scopes are what a token for this request must grant, for the challenge:
// a push needs pull as well (clients check for blobs before they upload),
// and a mount pull on the repository it mounts from.
func (h *Handler) scopes(ctx *fasthttp.RequestCtx, action auth.Action, name string) string {
	switch {
	case name == "":
		return "registry:catalog:*"
	case action == auth.Push:
		s := "repository:" + name + ":pull,push"
		q := ctx.QueryArgs()
		if from := string(q.Peek("from")); ctx.IsPost() && q.Has("mount") && from != name && validName(from) {
			s += " repository:" + from + ":pull"
		}
		return s
	}
	return "repository:" + name + ":" + string(action)
}

// refuseCaller answers credentials that were refused: 429 with Retry-After
// once too many logins failed (httpx.Guard), else 401 with a challenge.
func (h *Handler) refuseCaller(ctx *fasthttp.RequestCtx, c caller, scope string) {
	if c.throttled {
		ociError(ctx, codeTooManyRequests, c.refused)
		httpx.SetLoginRetryAfter(ctx)
		return
	}
	h.unauthorized(ctx, c.refused, scope)
}

// unauthorized answers 401 with a challenge: Bearer pointing at
// /auth/token (with the scope a token needs, if any) when tokens are in
// use, Basic otherwise.
func (h *Handler) unauthorized(ctx *fasthttp.RequestCtx, msg, scope string) {
	ociError(ctx, codeUnauthorized, msg)
	if !h.bearer() {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, basicChallenge)
		return
	}
	v := `Bearer realm="` + pull.BaseURL(ctx, h.publicURL) + `/auth/token",service="` + auth.TokenService + `"`
	if scope != "" {
		v += `,scope="` + scope + `"`
	}
	ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, v)
}

// ping answers GET /v2/. Credentials, when sent, are checked (docker login
// relies on that). With bearer tokens in use an anonymous ping gets the
// challenge, even while anonymous reads are on (see bearer); clients then
// fetch an anonymous token for their pulls. Otherwise an anonymous ping
// gets 200 while anonymous reads are on, and the challenge when they are
// off.
func (h *Handler) ping(ctx *fasthttp.RequestCtx) {
	c := h.caller(ctx)
	switch {
	case c.refused != "":
		h.refuseCaller(ctx, c, "")
		return
	case c.none() && (h.bearer() || !h.auth.Allowed(nil, auth.Pull, "docker", "")):
		h.unauthorized(ctx, "authentication required", "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString("{}")
}
