package npm_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
	"nora/cache"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/upstream"
)

// The user every test nora with an htpasswd file knows.
const (
	testUser = "ci"
	testPass = "s3cret-publish"
)

type noraUnderTest struct {
	url     string // "http://127.0.0.1:<port>"
	dataDir string
}

// authOptions say who may write and read.
type authOptions struct {
	htpasswd    bool // testUser may write; otherwise nobody may
	privateRead bool // anonymous_read = false
}

// startNora runs an in-process nora whose [npm] section is cfg, with the
// default [auth] (anonymous reads, no writes).
func startNora(t testing.TB, cfg npm.Config) *noraUnderTest {
	t.Helper()
	return startNoraAuth(t, cfg, authOptions{})
}

// startNoraAuth is startNora with an [auth] section built from o.
func startNoraAuth(t testing.TB, cfg npm.Config, o authOptions) *noraUnderTest {
	t.Helper()
	app := proxy.AppConfig{Server: proxy.DefaultConfig(), Storage: cache.DefaultConfig(), Npm: cfg}
	ac := auth.DefaultConfig()
	ac.AnonymousRead = !o.privateRead
	if o.htpasswd {
		hash, err := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		ac.Htpasswd = filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(ac.Htpasswd, []byte(testUser+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app.Auth = &ac
	app.Server.Listen = "127.0.0.1:0"
	app.Storage.Path = t.TempDir()
	app.Storage.StallTimeout = cache.Duration(10 * time.Second)
	up := upstream.DefaultConfig()
	up.BreakerCooldown = 100 * time.Millisecond // tests stop and restart upstreams
	up.RetryBackoffMax = 200 * time.Millisecond
	app.Upstream = &up
	a, err := proxy.NewApp(app, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &noraUnderTest{url: "http://" + a.Addr().String(), dataDir: app.Storage.Path}
}

// stored reports whether the cache holds the ref key.
func (n *noraUnderTest) stored(key string) bool {
	_, err := os.Stat(filepath.Join(n.dataDir, "objects", filepath.FromSlash(key)))
	return err == nil
}

// tempFiles counts the files left in the store's temp directory.
func (n *noraUnderTest) tempFiles() int {
	entries, _ := os.ReadDir(filepath.Join(n.dataDir, "tmp"))
	return len(entries)
}

// waitNoFill waits until no fill's temp file is left.
func (n *noraUnderTest) waitNoFill(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries, _ := os.ReadDir(filepath.Join(n.dataDir, "tmp"))
		if len(entries) == 0 {
			return
		}
	}
	t.Fatal("a fill left temp files")
}

// get sends a GET with the given header pairs and reads the whole body.
func get(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, nil, hdr...)
}

func do(t testing.TB, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, b
}

const abbreviated = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
