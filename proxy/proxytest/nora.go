// Package proxytest runs an in-process nora for the end-to-end tests and
// benchmarks of the format packages, and holds what their clients share.
// Only tests import it.
package proxytest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/upstream"
)

// Nora is an in-process nora serving until its test ends.
type Nora struct {
	URL     string // "http://127.0.0.1:<port>"
	Addr    string // "127.0.0.1:<port>"
	DataDir string // the storage path
	// AdminSocket is the admin API's socket (DESIGN 3.5).
	AdminSocket string
	// Storage is the [storage] section it runs on (disk or S3).
	Storage cache.Config
	app     *proxy.App
}

// Upstream is the upstream tuning of a test nora: tests stop and restart
// upstreams, so the breaker cools down and retries back off quickly.
func Upstream() upstream.Config {
	c := upstream.DefaultConfig()
	c.BreakerCooldown = 100 * time.Millisecond
	c.RetryBackoff, c.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	return c
}

// Start runs a nora built from cfg as main builds it, on a free loopback
// port, until t ends. What cfg leaves unset gets a test default: a zero
// Server is proxy.DefaultConfig(); a Storage with nothing set but its Path
// is cache.DefaultConfig() with a 10 s stall timeout; an empty storage path
// is a temp dir; a nil Upstream is Upstream().
func Start(t testing.TB, cfg proxy.AppConfig) *Nora {
	t.Helper()
	return StartLogged(t, cfg, slog.New(slog.DiscardHandler))
}

// StartLogged is Start with nora's logs going to log.
func StartLogged(t testing.TB, cfg proxy.AppConfig, log *slog.Logger) *Nora {
	t.Helper()
	if cfg.Server == (proxy.Config{}) {
		cfg.Server = proxy.DefaultConfig()
	}
	cfg.Server.Listen = "127.0.0.1:0"
	if cfg.Storage == (cache.Config{Path: cfg.Storage.Path}) {
		path := cfg.Storage.Path
		cfg.Storage = cache.DefaultConfig()
		cfg.Storage.Path = path
		cfg.Storage.StallTimeout = units.Duration(10 * time.Second)
	}
	if cfg.Storage.Path == "" {
		cfg.Storage.Path = t.TempDir()
	}
	if cfg.Server.AdminSocket == "" {
		// A socket path must fit sun_path (108 bytes); test dirs can be deep.
		dir, err := os.MkdirTemp("", "nora-admin")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		cfg.Server.AdminSocket = filepath.Join(dir, "admin.sock")
	}
	if cfg.Upstream == nil {
		up := Upstream()
		cfg.Upstream = &up
	}
	app, err := proxy.NewApp(cfg, log)
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
	addr := app.Addr().String()
	return &Nora{URL: "http://" + addr, Addr: addr, DataDir: cfg.Storage.Path, AdminSocket: cfg.Server.AdminSocket,
		Storage: cfg.Storage, app: app}
}

// WaitLater returns once nora's writes that follow their replies have
// ended: a fill commits after its readers got the verified bytes, a
// document is stored after it is answered.
func (n *Nora) WaitLater() { n.app.WaitLater() }

// Stored reports whether the store holds a committed object under key,
// once the writes under way have ended.
func (n *Nora) Stored(key string) bool {
	n.WaitLater()
	if n.Storage.Backend == "s3" {
		s, err := proxy.OpenStore(context.Background(), n.Storage)
		if err != nil {
			panic(err)
		}
		_, err = s.Stat(context.Background(), key)
		return err == nil
	}
	_, err := os.Stat(filepath.Join(n.DataDir, "objects", filepath.FromSlash(key)))
	return err == nil
}

// TempFiles lists what is left in the store's temp directory (the spool
// of an S3 store).
func (n *Nora) TempFiles() []string {
	dir := filepath.Join(n.DataDir, "tmp")
	if n.Storage.Backend == "s3" {
		dir = filepath.Join(n.DataDir, "spool")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// WaitNoTempFiles waits up to within until no temp file (of a fill or an
// upload) is left.
func (n *Nora) WaitNoTempFiles(t testing.TB, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(n.TempFiles()) == 0 {
			return
		}
	}
	t.Fatalf("temp files left: %v", n.TempFiles())
}

// Htpasswd writes an htpasswd file that knows user with pass and returns
// its path. MinCost keeps the tests fast.
func Htpasswd(t testing.TB, user, pass string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Env is a client's environment built from scratch: the caller's PATH, and
// home as HOME and TMPDIR, then extra. Nothing of the machine's client
// settings applies.
func Env(home string, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home}, extra...)
}
