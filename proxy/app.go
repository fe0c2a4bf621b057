package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/cache/disk"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/pull"
	"nora/proxy/pypi"
	"nora/upstream"
)

// AppConfig is everything NewApp needs; cmd/nora fills it from the TOML file.
type AppConfig struct {
	Server  Config
	Storage cache.Config
	Docker  docker.Config
	Npm     npm.Config
	PyPI    pypi.Config
	Maven   maven.Config
	Cargo   cargo.Config
	// Upstream tunes the upstream client; it is not in the TOML file. The
	// zero value means upstream.DefaultConfig().
	Upstream *upstream.Config
}

// App is the whole nora object graph: store, upstream clients, format
// handlers and the HTTP server. main and the tests build it the same way.
type App struct {
	log    *slog.Logger
	ln     net.Listener
	srv    *Server
	cache  *cache.Cache
	docker *docker.Handler
	docs   *pull.Docs
}

// drainTimeout bounds how long Serve waits for open responses on shutdown.
const drainTimeout = 30 * time.Second

// NewApp builds the object graph and binds the listener (so Addr is known
// before Serve).
func NewApp(cfg AppConfig, log *slog.Logger) (*App, error) {
	set := metrics.NewSet()
	if cfg.Storage.Backend != "disk" {
		return nil, fmt.Errorf("storage backend %q is not available yet (disk is)", cfg.Storage.Backend)
	}
	store, err := disk.Open(cfg.Storage.Path)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(store, cfg.Storage.Path, log, set)
	if err != nil {
		return nil, err
	}
	upCfg := upstream.DefaultConfig()
	if cfg.Upstream != nil {
		upCfg = *cfg.Upstream
	}
	client := upstream.NewClient(upCfg, log, set)
	dh, err := docker.New(cfg.Docker, c, client, log, cfg.Storage.StallTimeout.D())
	if err != nil {
		c.Close()
		return nil, err
	}
	app := &App{log: log, cache: c, docker: dh}
	fail := func(err error) (*App, error) {
		app.close()
		return nil, err
	}
	if app.docs, err = pull.NewDocs(c, log); err != nil {
		return fail(err)
	}
	deps := pull.Deps{Cache: c, Client: client, Docs: app.docs, Log: log, Stall: cfg.Storage.StallTimeout.D(), PublicURL: cfg.Server.PublicURL}
	app.srv = NewServer(cfg.Server, log, set)
	app.srv.Handle("/v2", "docker", dh.Serve)
	formats := []struct {
		prefix, name string
		build        func() (fasthttp.RequestHandler, error)
	}{
		{"/npm/", "npm", func() (fasthttp.RequestHandler, error) { h, err := npm.New(cfg.Npm, deps); return serveOf(h, err) }},
		{"/simple/", "pypi", func() (fasthttp.RequestHandler, error) { h, err := pypi.New(cfg.PyPI, deps); return serveOf(h, err) }},
		{"/maven2/", "maven", func() (fasthttp.RequestHandler, error) { h, err := maven.New(cfg.Maven, deps); return serveOf(h, err) }},
		{"/cargo/", "cargo", func() (fasthttp.RequestHandler, error) { h, err := cargo.New(cfg.Cargo, deps); return serveOf(h, err) }},
	}
	for _, f := range formats {
		h, err := f.build()
		if err != nil {
			return fail(fmt.Errorf("cannot set up %s: %w", f.name, err))
		}
		app.srv.Handle(f.prefix, f.name, h)
	}
	app.srv.AddReadyCheck("storage", c.Ready)
	if app.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return fail(fmt.Errorf("cannot listen on %s: %w", cfg.Server.Listen, err))
	}
	return app, nil
}

// Addr is the address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Serve serves until ctx is cancelled, then drains open connections (bounded
// by a deadline) and closes the store.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		err = a.srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; err == nil {
			err = serr
		}
	}
	if cerr := a.close(); err == nil {
		err = cerr
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// close releases what NewApp built, in reverse order.
func (a *App) close() error {
	if a.docs != nil {
		a.docs.Close()
	}
	a.docker.Close()
	return a.cache.Close()
}

// serveOf adapts a format handler's constructor result.
func serveOf[H interface{ Serve(*fasthttp.RequestCtx) }](h H, err error) (fasthttp.RequestHandler, error) {
	if err != nil {
		return nil, err
	}
	return h.Serve, nil
}
