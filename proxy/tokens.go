package proxy

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/proxy/httpx"
)

// tokenPath is nora's registry token endpoint (DESIGN 3.1), the realm of
// the /v2/ Bearer challenges.
const tokenPath = "/auth/token"

// tokenHandler issues the registry bearer tokens that /v2/ accepts.
type tokenHandler struct {
	auth   auth.Authorizer
	tokens *auth.Tokens
	log    *slog.Logger
}

type tokenResponse struct {
	Token string `json:"token"`
	// AccessToken is the same token under its OAuth2 name; some clients
	// read only this one.
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// serve implements GET /auth/token?service=nora&scope=repository:<name>:pull,push
// (scope repeated, or space-separated, for several resources): Basic
// credentials are optional, and wrong ones are refused; the token grants
// of each scope what the caller may do, which for an anonymous caller is
// at most pull (with anonymous_read). service, account, client_id and
// offline_token are accepted; a wrong account is refused. A caller may get
// less than it asked for, or nothing: the registry then refuses the
// request the token does not cover.
func (h *tokenHandler) serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if string(ctx.Path()) != tokenPath {
		tokenError(ctx, fasthttp.StatusNotFound, "NOT_FOUND", "no such endpoint")
		return
	}
	if !ctx.IsGet() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET")
		tokenError(ctx, fasthttp.StatusMethodNotAllowed, "UNSUPPORTED", "use GET")
		return
	}
	id, d := httpx.Login(ctx, h.auth)
	switch d {
	case httpx.TooManyAttempts:
		tokenError(ctx, d.Status(), "TOOMANYREQUESTS", httpx.TooManyAttemptsMessage)
		httpx.SetLoginRetryAfter(ctx)
		return
	case httpx.BadCredentials:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, httpx.BasicChallenge)
		tokenError(ctx, fasthttp.StatusUnauthorized, "UNAUTHORIZED", "invalid user name or password")
		return
	}
	q := ctx.QueryArgs()
	// A token goes with any user name: the account only has to match a
	// user's.
	if account := string(q.Peek("account")); account != "" && id != nil && id.Kind == auth.User && account != id.Name {
		tokenError(ctx, fasthttp.StatusBadRequest, "DENIED", "account does not match the credentials")
		return
	}
	var want []auth.Access
	for _, s := range q.PeekMulti("scope") {
		as, err := auth.ParseScope(string(s))
		if err != nil {
			tokenError(ctx, fasthttp.StatusBadRequest, "INVALID_SCOPE", err.Error())
			return
		}
		want = append(want, as...)
	}
	if len(want) > auth.MaxScopes {
		tokenError(ctx, fasthttp.StatusBadRequest, "INVALID_SCOPE", "too many scopes in one request")
		return
	}
	tok, claims, err := h.tokens.Issue(id, auth.Grant(h.auth, id, "docker", want))
	if err != nil {
		h.log.Error("cannot issue a token", "err", err)
		tokenError(ctx, fasthttp.StatusInternalServerError, "UNKNOWN", "cannot issue a token")
		return
	}
	b, err := json.Marshal(tokenResponse{Token: tok, AccessToken: tok,
		ExpiresIn: int(h.tokens.TTL() / time.Second), IssuedAt: claims.IssuedAt.UTC().Format(time.RFC3339)})
	if err != nil {
		tokenError(ctx, fasthttp.StatusInternalServerError, "UNKNOWN", "cannot encode the token")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// tokenError answers in the registry's error shape, which docker and
// containers/image show to the user.
func tokenError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	b, _ := json.Marshal(map[string][]map[string]string{"errors": {{"code": code, "message": msg}}})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
