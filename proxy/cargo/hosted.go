package cargo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/cargo"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// writeTimeout bounds a yank's store calls.
const writeTimeout = 2 * time.Minute

// publishOK is the answer to a publish: nora has no warnings to give.
var publishOK = []byte(`{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":[]}}`)

// authorize decides whether the request may do action on crate name; it
// answers a refusal itself and returns false. cargo sends its registry
// token verbatim as Authorization, so a token of "Basic <base64
// user:password>" logs in.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, name string) bool {
	_, ok := httpx.Gate(ctx, h.auth, action, "cargo", name, name, cargoError)
	return ok
}

// refuse answers a refusal in cargo's error shape.
func refuse(ctx *fasthttp.RequestCtx, d httpx.Decision, action auth.Action, name string) {
	httpx.Refuse(ctx, d, action, name, cargoError)
}

// hostedIndex answers GET /cargo/index/.../<name> for a hosted name. A
// publish is visible at once: cargo polls this file after publishing
// until the new version shows.
func (h *Handler) hostedIndex(ctx *fasthttp.RequestCtx, name string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	body, err := h.hosted.Index(ctx, name)
	if err != nil {
		h.hostedFail(ctx, name, err)
		return
	}
	sum := sha256.Sum256(body)
	serveIndex(ctx, hex.EncodeToString(sum[:]), body)
}

// hostedDownload answers a .crate download of a hosted name; a version
// that is not hosted is 404, never looked up upstream.
func (h *Handler) hostedDownload(ctx *fasthttp.RequestCtx, name, vers string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	obj, err := h.hosted.Crate(ctx, name, vers)
	if err != nil {
		h.hostedFail(ctx, name, err)
		return
	}
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/gzip")
}

// publish implements PUT /cargo/api/v1/crates/new (cargo publish).
func (h *Handler) publish(ctx *fasthttp.RequestCtx) {
	httpx.SetLogInfo(ctx, "", "hosted")
	if d := h.admitPublish(ctx); d != httpx.Allowed {
		refuse(ctx, d, auth.Push, "crates")
		return
	}
	// Buffered, so that the .crate's length can be peeked at for the quota.
	body := bufio.NewReaderSize(httpx.BodyReader(ctx), 64<<10)
	req, err := hosted.ReadRequest(body, int64(ctx.Request.Header.ContentLength()), int64(h.cfg.MaxUploadSize))
	if err != nil {
		h.hostedFail(ctx, "", err)
		return
	}
	name := req.Name()
	httpx.SetLogInfo(ctx, name, "hosted")
	id, d := httpx.Authorize(ctx, h.auth, auth.Push, "cargo", name)
	if d != httpx.Allowed {
		refuse(ctx, d, auth.Push, name)
		return
	}
	if !reserveCrate(ctx, body, name) {
		return
	}
	// Not the request's context: a publish that has read its body
	// commits whole; only the server's end stops it.
	e, err := h.hosted.Publish(h.life(), req)
	if err != nil {
		if httpx.LocalFault(err) {
			httpx.Drain(ctx) // the .crate's temp file stopped taking it
		}
		h.hostedFail(ctx, name, err)
		return
	}
	h.deps.Log.Info("crate published", "crate", e.Name, "version", e.Vers, "cksum", e.Cksum, "user", user(id))
	httpx.SetEvent(ctx, httpx.EventPublish, e.Vers, "sha256:"+e.Cksum, 0)
	ctx.SetContentType("application/json")
	ctx.SetBody(publishOK)
}

// admitPublish refuses what no crate name can change, before the body is
// read: no writes at all, wrong credentials, none when anonymous pushes
// are not allowed. Whether this user may publish this crate, and the
// tenant's push limit, are decided once the metadata names it: asking
// Authorize here would count the publish twice, once against the tenant
// of no name.
func (h *Handler) admitPublish(ctx *fasthttp.RequestCtx) httpx.Decision {
	if !h.auth.WritesEnabled() {
		httpx.SetActor(ctx, nil, auth.Push, "cargo", "")
		return httpx.NoWrites
	}
	id, d := httpx.Login(ctx, h.auth)
	httpx.SetActor(ctx, id, auth.Push, "cargo", "")
	switch {
	case d != httpx.Allowed:
		return d
	case id == nil && !h.auth.Allowed(nil, auth.Push, "cargo", ""):
		return httpx.LoginRequired
	}
	return httpx.Allowed
}

// yank implements DELETE /cargo/api/v1/crates/<name>/<version>/yank
// (yanked true) and PUT .../unyank. A yank hides a version from new
// resolutions, so it needs the delete permission; an unyank the push one.
func (h *Handler) yank(ctx *fasthttp.RequestCtx, name, vers string, yanked bool) {
	httpx.SetLogInfo(ctx, name, "hosted")
	action := auth.Push
	if yanked {
		action = auth.Delete
	}
	id, d := httpx.Authorize(ctx, h.auth, action, "cargo", name)
	if d != httpx.Allowed {
		refuse(ctx, d, action, name)
		return
	}
	wctx, cancel := h.deps.Detached(writeTimeout)
	defer cancel()
	if err := h.hosted.SetYanked(wctx, name, vers, yanked); err != nil {
		h.hostedFail(ctx, name, err)
		return
	}
	h.deps.Log.Info("crate yank set", "crate", name, "version", vers, "yanked", yanked, "user", user(id))
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"ok":true}`)
}

// hostedFail translates an error of the hosted state into cargo's error
// shape; cargo shows the detail to the user. Only the kinds hosted state
// refuses with reach the client; anything else is nora's failure, a 500
// whose cause goes to the log.
func (h *Handler) hostedFail(ctx *fasthttp.RequestCtx, name string, err error) {
	if cache.IsNoSpace(err) {
		h.deps.Log.Error("hosted cargo: storage is full", "crate", name, "err", err)
		cargoError(ctx, fasthttp.StatusInsufficientStorage, httpx.NoSpaceMessage)
		return
	}
	switch k := fault.KindOf(err); {
	case httpx.LocalFault(err):
		// Whatever else it wraps: its text names paths of the store.
	case k == fault.NotFound:
		cargoError(ctx, fasthttp.StatusNotFound, fault.Message(err))
		return
	case k == fault.Invalid, k == fault.TooLarge, k == fault.Conflict:
		h.deps.Log.Info("cargo publish refused", "crate", name, "err", err)
		cargoError(ctx, httpx.Status(err), fault.Message(err))
		return
	}
	h.deps.Log.Error("hosted cargo request failed", "crate", name, "err", err)
	cargoError(ctx, fasthttp.StatusInternalServerError, "nora could not complete the request; its log says why")
}

// life is the server's lifetime: the context of a publish, which must
// commit whole once its body is in but not outlive the server, and bounds
// its own steps.
func (h *Handler) life() context.Context {
	if h.deps.Base == nil {
		return context.Background()
	}
	return h.deps.Base
}

// user names id for the log.
func user(id *auth.Identity) string {
	if id == nil {
		return ""
	}
	return id.Name
}
