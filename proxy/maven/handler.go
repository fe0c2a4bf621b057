package maven

import (
	"github.com/valyala/fasthttp"

	"nora/proxy/pull"
)

// Handler serves the maven protocol.
type Handler struct {
	cfg  Config
	deps pull.Deps
}

// New builds the handler.
func New(cfg Config, deps pull.Deps) (*Handler, error) {
	return &Handler{cfg: cfg, deps: deps}, nil
}

// Serve answers one request.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	ctx.Error("not implemented yet", fasthttp.StatusNotImplemented)
}
