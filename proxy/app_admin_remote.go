package proxy

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"nora/auth"
	"nora/proxy/httpx"
	"nora/proxy/prefetch"
)

// adminPrefix is where the admin API answers on the normal listener too
// (DESIGN 3.5), for callers holding the admin permission: `nora ...
// --server URL --token T` and scripts.
const adminPrefix = "/api/v1/"

// mountAdminRemote serves the admin API on the normal listener to callers
// that log in (Basic or Bearer, a user or an API token) and hold the admin
// permission. The backup stays on the socket: it streams the whole store.
func (app *App) mountAdminRemote() {
	api := fasthttpadaptor.NewFastHTTPHandler(app.admin)
	app.srv.Handle(adminPrefix, "admin", func(ctx *fasthttp.RequestCtx) {
		id, d := httpx.Login(ctx, app.auth)
		httpx.SetActor(ctx, id, auth.Admin, "", "")
		switch {
		case d != httpx.Allowed:
		case id == nil:
			d = httpx.LoginRequired
		case !app.auth.Allowed(id, auth.Admin, "", ""):
			d = httpx.Denied
		}
		if d != httpx.Allowed {
			httpx.Refuse(ctx, d, auth.Admin, "the admin API", adminError)
			return
		}
		if bytes.Equal(ctx.Path(), []byte(adminPrefix+"backup")) {
			adminError(ctx, fasthttp.StatusNotFound, "the backup is served on the admin socket only (nora backup on the box)")
			return
		}
		// The adaptor reads the whole body into memory: it is read here
		// first, up to the largest an admin request needs (a prefetch list).
		body, err := httpx.ReadBody(ctx, maxAdminRequest)
		if err != nil {
			adminError(ctx, httpx.BodyStatus(err), err.Error())
			return
		}
		ctx.Request.SetBody(body)
		api(ctx)
	})
}

// maxAdminRequest caps a request body of the remote admin API.
const maxAdminRequest = prefetch.MaxListSize

// adminError writes the admin API's JSON error.
func adminError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]string{"error": msg})
	ctx.SetBody(b)
}
