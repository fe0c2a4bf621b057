package ui

import (
	"context"

	"github.com/valyala/fasthttp"

	"nora/proxy/webhook"
)

// Deliveries lists up to limit recent deliveries of each webhook.
type Deliveries func(ctx context.Context, limit int) ([]webhook.Webhook, error)

// deliveriesShown is how many deliveries of each webhook the page shows.
const deliveriesShown = 50

type webhooksView struct {
	Hooks []webhook.Webhook
	Error string
}

func (h *Handler) webhooks(ctx *fasthttp.RequestCtx) {
	hooks, err := h.opts.Deliveries(ctx, deliveriesShown)
	v := webhooksView{Hooks: hooks}
	if err != nil {
		v.Error = err.Error()
	}
	h.render(ctx, "webhooks", "Webhook deliveries", "webhooks", v)
}
