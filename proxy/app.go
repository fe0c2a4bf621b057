package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	"nora/cache/disk"
	"nora/proxy/docker"
	"nora/upstream"
)

// AppConfig is everything NewApp needs; cmd/nora fills it from the TOML file.
type AppConfig struct {
	Server  Config
	Storage cache.Config
	Docker  docker.Config
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
	srv := NewServer(cfg.Server, log, set)
	srv.Handle("/v2", "docker", dh.Serve)
	srv.AddReadyCheck("storage", c.Ready)
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		dh.Close()
		c.Close()
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.Server.Listen, err)
	}
	return &App{log: log, ln: ln, srv: srv, cache: c, docker: dh}, nil
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
	a.docker.Close()
	if cerr := a.cache.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
