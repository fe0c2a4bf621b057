package npm

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// npmError writes npm's error shape, {"error":"..."}. HEAD gets the status
// and headers only.
func npmError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // messages show <host> and the like
	_ = enc.Encode(struct {
		Error string `json:"error"`
	}{msg})
	setBody(ctx, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// setBody answers with b, or for HEAD with its length only.
func setBody(ctx *fasthttp.RequestCtx, b []byte) {
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(b))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

// pullError answers a failure of the data path in npm's wire shape
// (pull.Deps.Fail).
func (h *Handler) pullError(ctx *fasthttp.RequestCtx, err error, what string) {
	h.deps.Fail(ctx, "npm", what, err, npmError)
}
