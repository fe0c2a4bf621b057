package docker

import (
	"bytes"
	"encoding/base64"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// challenge is the WWW-Authenticate of every 401: nora checks Basic
// credentials itself (bearer tokens come with /auth/token).
const challenge = `Basic realm="nora"`

// anonymous answers every question the way auth.Local does without an
// htpasswd file: reads for everyone, no writes. It stands in for a nil
// Authorizer.
type anonymous struct{}

func (anonymous) Authenticate(string, string) (*auth.Identity, error) {
	return nil, auth.ErrBadCredentials
}
func (anonymous) Allowed(id *auth.Identity, a auth.Action, _, _ string) bool {
	return a == auth.Pull
}
func (anonymous) WritesEnabled() bool { return false }

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

// credentials authenticates the request's Basic credentials. present is
// false when there are none (an empty user name and password, which
// containers/image sends after a Basic challenge when it has no login,
// count as none); id is nil when they are wrong.
func (h *Handler) credentials(ctx *fasthttp.RequestCtx) (id *auth.Identity, present bool) {
	hdr := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(hdr) == 0 {
		return nil, false
	}
	scheme, value, _ := bytes.Cut(hdr, []byte(" "))
	if !bytes.EqualFold(scheme, []byte("Basic")) {
		return nil, true
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(value)))
	if err != nil {
		return nil, true
	}
	user, pass, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		return nil, true
	}
	if len(user) == 0 && len(pass) == 0 {
		return nil, false
	}
	id, err = h.auth.Authenticate(string(user), string(pass))
	if err != nil {
		return nil, true
	}
	return id, true
}

// authorize decides whether the request may do action on repository name.
// It answers the refusal itself and returns false: 401 with a challenge
// for missing or wrong credentials, 403 for a known user without the
// permission or when no one can write at all.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, name string) (*auth.Identity, bool) {
	if action != auth.Pull && !h.auth.WritesEnabled() {
		ociError(ctx, codeDenied, "this nora accepts no pushes or deletes: set [auth] htpasswd to a file of users who may write")
		return nil, false
	}
	id, present := h.credentials(ctx)
	if present && id == nil {
		unauthorized(ctx, "invalid user name or password")
		return nil, false
	}
	if h.auth.Allowed(id, action, "docker", name) {
		return id, true
	}
	if id == nil {
		unauthorized(ctx, "authentication required to "+string(action)+" "+name)
		return nil, false
	}
	ociError(ctx, codeDenied, "user "+id.Name+" may not "+string(action)+" "+name)
	return nil, false
}

func unauthorized(ctx *fasthttp.RequestCtx, msg string) {
	ociError(ctx, codeUnauthorized, msg)
	ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, challenge)
}

// ping answers GET /v2/. Credentials, when sent, are checked (docker login
// relies on that). Without them the answer is 200 while anonymous reads
// are allowed, so anonymous docker and containerd pulls (registry mirrors)
// never see a challenge they cannot answer; with anonymous reads off it is
// the 401 challenge.
//
// A consequence: clients that learn the auth scheme only from this ping
// (docker and containers/image, i.e. podman and skopeo) send no
// credentials on pushes while anonymous reads are on; crane, helm and oras
// answer the 401 of the push itself. Bearer tokens (/auth/token) lift that.
func (h *Handler) ping(ctx *fasthttp.RequestCtx) {
	id, present := h.credentials(ctx)
	if (present && id == nil) || (!present && !h.auth.Allowed(nil, auth.Pull, "docker", "")) {
		unauthorized(ctx, "authentication required")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString("{}")
}
