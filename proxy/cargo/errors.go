package cargo

import (
	"encoding/json"

	"github.com/valyala/fasthttp"
)

type errorDetail struct {
	Detail string `json:"detail"`
}

// cargoError writes cargo's registry error shape,
// {"errors":[{"detail":"..."}]}; cargo shows the detail to the user.
func cargoError(ctx *fasthttp.RequestCtx, status int, detail string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	b, _ := json.Marshal(struct {
		Errors []errorDetail `json:"errors"`
	}{[]errorDetail{{detail}}})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fail answers a failure of the data path in cargo's shape
// (pull.Deps.Fail: a real upstream 404 stays 404, which cargo reads as "no
// such crate"; an outage is 503).
func (h *Handler) fail(ctx *fasthttp.RequestCtx, crate string, err error) {
	h.deps.Fail(ctx, "cargo", crate, err, cargoError)
}
