package proxy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// runApp builds cfg's app as main does and serves it until t ends. An
// empty storage path is a temp dir (give one with cache.DefaultConfig(),
// whose "./data" would land in the package directory), an empty admin
// socket one in a short temp dir (sun_path holds 108 bytes).
func runApp(t *testing.T, cfg AppConfig, log *slog.Logger) *App {
	t.Helper()
	if cfg.Storage.Path == "" {
		cfg.Storage.Path = t.TempDir()
	}
	if cfg.Server.AdminSocket == "" {
		sock, err := os.MkdirTemp("", "nora-admin")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sock) })
		cfg.Server.AdminSocket = filepath.Join(sock, "admin.sock")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	app, err := NewApp(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return app
}
