package proxy

import (
	"encoding/json"
	"net"
	"slices"

	"nora/proxy/startpage"
)

// mountStartPage serves the start page at "/" on every listener. Call it
// once the listeners are bound: the page names their real ports. "/" is
// the shortest prefix, so every other route still wins, and the page
// answers any other unknown path 404 as before.
func (app *App) mountStartPage(cfg AppConfig) {
	var formats []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"docker", cfg.Docker.IsEnabled()}, {"npm", cfg.Npm.IsEnabled()}, {"pypi", cfg.PyPI.IsEnabled()},
		{"maven", cfg.Maven.IsEnabled()}, {"cargo", cfg.Cargo.IsEnabled()}} {
		if f.on {
			formats = append(formats, f.name)
		}
	}
	addr := func(a net.Addr) string {
		if a == nil {
			return ""
		}
		return a.String()
	}
	certs := app.certs
	page := startpage.New(startpage.Config{
		Version:     cfg.Build.Version,
		PublicURL:   cfg.Server.PublicURL,
		TLSMode:     cfg.Server.TLS.Mode,
		Listen:      addr(app.Addr()),
		ListenPlain: addr(app.PlainAddr()),
		CA:          func() bool { return certs.CAPEM() != nil }, // auto mode only
		Ready:       app.srv.ready.health,
		Formats:     formats,
	})
	app.srv.Handle("/", formatSite, page.Serve)
}

// health is the last /ready answer as the start page shows it: the same
// round's result, read from what /ready publishes.
func (r *readiness) health() startpage.Health {
	a := r.answer.Load()
	var v struct {
		Status  string            `json:"status"`
		Failing map[string]string `json:"failing"`
	}
	_ = json.Unmarshal(a.body, &v) // publishLocked writes it; at worst the status is empty
	h := startpage.Health{Ready: a.status == 200, Status: v.Status}
	for name := range v.Failing {
		h.Failing = append(h.Failing, name)
	}
	slices.Sort(h.Failing)
	return h
}
