package docker_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
	"nora/cache"
	"nora/hosted/oci"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/upstream"
)

// The user every test nora knows when it has an htpasswd file.
const (
	testUser = "ci"
	testPass = "s3cret-push"
)

type options struct {
	noHtpasswd  bool // no user source: writes are refused
	privateRead bool // anonymous_read = false
	upstreams   []docker.UpstreamConfig
	hosted      oci.Config
}

type noraUnderTest struct {
	addr    string // host:port
	dataDir string
}

// startNora runs an in-process nora on loopback, built as main builds it.
func startNora(t testing.TB, o options) *noraUnderTest {
	t.Helper()
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Storage: cache.DefaultConfig(), Docker: docker.DefaultConfig()}
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Storage.Path = t.TempDir()
	cfg.Storage.StallTimeout = cache.Duration(10 * time.Second)
	cfg.Server.StallTimeout = cache.Duration(10 * time.Second)
	cfg.Docker.Upstreams = o.upstreams
	a := auth.DefaultConfig()
	a.AnonymousRead = !o.privateRead
	if !o.noHtpasswd {
		hash, err := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		a.Htpasswd = filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(a.Htpasswd, []byte(testUser+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Auth = &a
	cfg.HostedOCI = &o.hosted
	upCfg := upstream.DefaultConfig()
	upCfg.BreakerCooldown = 100 * time.Millisecond
	cfg.Upstream = &upCfg
	app, err := proxy.NewApp(cfg, slog.New(slog.DiscardHandler))
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
	return &noraUnderTest{addr: app.Addr().String(), dataDir: cfg.Storage.Path}
}
