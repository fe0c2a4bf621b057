package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/auth/oidc"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

const (
	// oidcTokenPath is where CI jobs exchange their ID token for a nora
	// token (`nora login`).
	oidcTokenPath = "/auth/oidc/token"
	// maxOIDCRequest bounds the exchange's JSON body: an ID token is a
	// few KiB.
	maxOIDCRequest = 64 << 10
)

// oidcExchangeTimeout bounds an exchange that must fetch the issuer's
// discovery document or keys.
const oidcExchangeTimeout = 15 * time.Second

// oidcHandler serves the OIDC exchange.
type oidcHandler struct {
	ex  *oidc.Exchanger
	log *slog.Logger
	// base is the server's lifetime: an exchange waiting on the issuer
	// ends with it (the RequestCtx is no context to hand a library).
	base context.Context
	// audit records exchanges (token-create) and refusals (login-failed);
	// nil records nothing.
	audit auth.Auditor
}

type oidcRequest struct {
	Token string `json:"token"`
}

type oidcResponse struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

// serve implements POST /auth/oidc/token with {"token": "<ID token>"}:
// {"token": "norao_...", "expires_in": seconds} for a token a configured
// provider signed whose claims match one of its rules; 401 for a token
// nora does not accept, 403 when no rule matches, 503 while the issuer
// cannot be reached, each with {"error": reason}. No answer or log line
// holds the ID token.
func (h *oidcHandler) serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	switch {
	case string(ctx.Path()) != oidcTokenPath:
		oidcError(ctx, fasthttp.StatusNotFound, "no such endpoint")
		return
	case !ctx.IsPost():
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		oidcError(ctx, fasthttp.StatusMethodNotAllowed, "use POST")
		return
	case !h.ex.Active():
		oidcError(ctx, fasthttp.StatusNotFound, "this nora has no OIDC provider configured ([[auth.oidc.providers]])")
		return
	}
	body, err := httpx.ReadBody(ctx, maxOIDCRequest)
	if err != nil {
		oidcError(ctx, httpx.BodyStatus(err), err.Error())
		return
	}
	var req oidcRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Token == "" {
		oidcError(ctx, fasthttp.StatusBadRequest, `want a JSON body {"token": "<ID token>"}`)
		return
	}
	c, cancel := context.WithTimeout(h.base, oidcExchangeTimeout)
	defer cancel()
	issued, err := h.ex.Exchange(c, req.Token)
	if err != nil {
		status := httpx.Status(err)
		if errors.Is(err, oidc.ErrRejected) {
			status = fasthttp.StatusUnauthorized
		}
		h.log.Warn("OIDC exchange refused", "status", status, "reason", fault.Message(err),
			"err", err, "remote", httpx.ClientAddr(ctx).String())
		if status == fasthttp.StatusUnauthorized || status == fasthttp.StatusForbidden {
			// The token's claims are not to be believed: the actor is
			// the scheme alone.
			h.record(ctx, auth.AuditLoginFailed, "oidc", "", status)
		}
		if n := fault.RetryAfter(err); n > 0 { // the issuer is down: when to try again
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(n))
		}
		oidcError(ctx, status, fault.Message(err))
		return
	}
	h.log.Info("OIDC exchange", "actor", issued.Identity.Actor,
		"expires_in", issued.ExpiresIn.String(), "remote", httpx.ClientAddr(ctx).String())
	h.record(ctx, auth.AuditTokenCreate, issued.Identity.Actor, issued.Identity.Name, fasthttp.StatusOK)
	b, err := json.Marshal(oidcResponse{Token: issued.Token, ExpiresIn: int(issued.ExpiresIn.Seconds())})
	if err != nil {
		oidcError(ctx, fasthttp.StatusInternalServerError, "cannot encode the token")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// record writes the audit line of an exchange: name is the provider.
func (h *oidcHandler) record(ctx *fasthttp.RequestCtx, action, actor, name string, status int) {
	if h.audit == nil {
		return
	}
	remote := ""
	if a := httpx.ClientAddr(ctx); a.IsValid() {
		remote = a.String()
	}
	h.audit.Record(auth.Event{Actor: actor, Action: action, Name: name, Reference: oidcTokenPath,
		Result: strconv.Itoa(status), Remote: remote, RequestID: string(ctx.Response.Header.Peek(headerRequestID))})
}

// oidcError answers {"error": msg}.
func oidcError(ctx *fasthttp.RequestCtx, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	if status == fasthttp.StatusUnauthorized {
		// The exchange is no Basic realm: say which scheme would do.
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="nora", error="invalid_token"`)
	}
}
