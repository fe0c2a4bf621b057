package proxy

import (
	"path/filepath"

	"github.com/VictoriaMetrics/metrics"

	"nora/proxy/webhook"
)

// webhookQueueFile is the webhooks' queue, in the storage path: local to
// the instance, like the cache index.
const webhookQueueFile = "webhooks.db"

// mountWebhooks starts delivering the [[webhooks]] events: the server's
// event sink feeds the queue, the admin API lists the deliveries. The
// senders stop with the server; events not yet delivered stay queued for
// the next start. Call it after the admin API is built.
func (app *App) mountWebhooks(cfg AppConfig, set *metrics.Set) error {
	if len(cfg.Webhooks) == 0 {
		return nil
	}
	tune := webhook.DefaultTuning()
	if cfg.WebhookTuning != nil {
		tune = *cfg.WebhookTuning
	}
	d, err := webhook.Open(app.life, filepath.Join(cfg.Storage.Path, webhookQueueFile), cfg.Webhooks, tune,
		app.log.With("component", "webhook"), set)
	if err != nil {
		return err
	}
	app.closers = append(app.closers, d.Close)
	app.srv.SetEvents(d.Send)
	app.admin.SetWebhooks(func(limit int) (any, error) { return d.Deliveries(limit) })
	return nil
}
