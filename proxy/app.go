package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"nora/cache"
	"nora/proxy/docker"
)

// AppConfig is everything NewApp needs; cmd/nora fills it from the TOML file.
type AppConfig struct {
	Server  Config
	Storage cache.Config
	Docker  docker.Config
}

// App is the whole nora object graph: store, upstream clients, format
// handlers and the HTTP server. main and the tests build it the same way.
type App struct {
	cfg AppConfig
	log *slog.Logger
	ln  net.Listener
}

// NewApp builds the object graph and binds the listener (so Addr is known
// before Serve).
func NewApp(cfg AppConfig, log *slog.Logger) (*App, error) {
	return nil, errors.New("TODO: being written")
}

// Addr is the address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Serve serves until ctx is cancelled, then drains open connections (bounded
// by a deadline) and closes the store.
func (a *App) Serve(ctx context.Context) error { return errors.New("TODO") }
