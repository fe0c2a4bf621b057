package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/stats"
	"nora/proxy/ui"
	"nora/proxy/webhook"
	"nora/upstream"
)

// mountUI counts the traffic for the web UI (statistics kept in the
// storage path) and serves the UI at /ui/ to whoever may pull: anonymous
// readers when anonymous_read is on, else a login (a 401 asks a browser
// for one). The statistics are written every minute and when the server
// stops.
func (app *App) mountUI(cfg AppConfig, client *upstream.Client) error {
	st, err := stats.New(stats.Options{Path: filepath.Join(cfg.Storage.Path, stats.File),
		TempDir: app.cache.TempDir(), Log: app.log.With("component", "ui")})
	if err != nil {
		return err
	}
	st.Start(app.life)
	app.closers = append(app.closers, func() {
		if err := st.Close(); err != nil {
			app.log.Warn("cannot save the web UI's statistics", "err", err)
		}
	})
	app.srv.SetObserver(st.Observe)
	on := map[string]bool{"docker": cfg.Docker.IsEnabled(), "npm": cfg.Npm.IsEnabled(), "pypi": cfg.PyPI.IsEnabled(),
		"maven": cfg.Maven.IsEnabled(), "cargo": cfg.Cargo.IsEnabled()}
	var formats []string
	for _, f := range stats.Formats {
		if on[f] {
			formats = append(formats, f)
		}
	}
	c := app.cache
	opts := ui.Options{
		Version:   cfg.Build.Version,
		Formats:   formats,
		Disk:      func(ctx context.Context) (cache.Stats, error) { return c.Stats(ctx) },
		Upstreams: client.Status,
		Stats:     st,
	}
	if app.inventory != nil { // a nil *Inventory must not become a non-nil Content
		opts.Content = app.inventory
	}
	if len(cfg.Webhooks) > 0 {
		opts.Deliveries = app.webhookDeliveries
	}
	h, err := ui.New(opts)
	if err != nil {
		return err
	}
	app.srv.Handle(ui.Prefix, formatSite, func(ctx *fasthttp.RequestCtx) {
		id, d := httpx.Authorize(ctx, app.auth, auth.Pull, "", "")
		if d != httpx.Allowed {
			httpx.Refuse(ctx, d, auth.Pull, "the web UI", uiError)
			return
		}
		h.ServeFor(ctx, func(format, name string) bool { return app.auth.Allowed(id, auth.Pull, format, name) })
	})
	return nil
}

// uiError answers a refusal as a line of text.
func uiError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}

// webhookDeliveries asks the admin API in process for the webhooks'
// deliveries (GET /api/v1/webhooks/deliveries): the dispatcher is the
// admin API's to hold.
func (app *App) webhookDeliveries(ctx context.Context, limit int) ([]webhook.Webhook, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminPrefix+"webhooks/deliveries?limit="+strconv.Itoa(limit), nil)
	if err != nil {
		return nil, err
	}
	w := &memResponse{header: http.Header{}, status: http.StatusOK}
	app.admin.ServeHTTP(w, req)
	var v struct {
		Webhooks []webhook.Webhook `json:"webhooks"`
		Error    string            `json:"error"`
	}
	if err := json.Unmarshal(w.body.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("cannot read the webhook deliveries: %w", err)
	}
	if w.status != http.StatusOK {
		return nil, fmt.Errorf("cannot read the webhook deliveries: %s", v.Error)
	}
	return v.Webhooks, nil
}

// memResponse is an http.ResponseWriter into memory.
type memResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header         { return m.header }
func (m *memResponse) WriteHeader(status int)      { m.status = status }
func (m *memResponse) Write(b []byte) (int, error) { return m.body.Write(b) }
