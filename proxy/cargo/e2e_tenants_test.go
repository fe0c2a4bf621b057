package cargo_test

import (
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nora/auth/tenant"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/proxytest"
)

// startTenants runs a nora where testUser may publish, whose tenant web
// owns the crates web-*, with the given limits (and the more tenants),
// and whose limiters' clock is ahead by skew.
func startTenants(t *testing.T, web tenant.Config, skew *atomic.Int64, more ...tenant.Config) *noraUnderTest {
	t.Helper()
	web.Name, web.Prefixes = "web", []string{"cargo:web-*"}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	up := cargotest.New(t, cargotest.Options{})
	return &noraUnderTest{proxytest.StartLogged(t, proxy.AppConfig{Cargo: alwaysRevalidate(up), Auth: users(t),
		Tenants: append([]tenant.Config{web}, more...), TenantClock: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}, log), logs}
}

// wantCargoError checks a refusal in cargo's shape, {"errors":[{"detail"}]},
// whose detail says every part of want.
func wantCargoError(t *testing.T, what string, status int, body string, wantStatus int, want ...string) {
	t.Helper()
	var e struct{ Errors []struct{ Detail string } }
	if status != wantStatus || json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 {
		t.Fatalf("%s: %d %s, want %d in cargo's error shape", what, status, body, wantStatus)
	}
	for _, w := range want {
		if !strings.Contains(e.Errors[0].Detail, w) {
			t.Fatalf("%s: detail %q does not say %q", what, e.Errors[0].Detail, w)
		}
	}
}

// TestTenantQuotaCargoPublish: cargo publish of a crate past web's quota
// fails showing the tenant and the quota; nothing of it remains (no index
// entry, no .crate, no temp file, usage unchanged); a crate that fits is
// then published. A raw publish whose framing declares a .crate past the
// quota is refused before the .crate is read: its body ends right after
// the length, which a publish reading on would answer 400.
func TestTenantQuotaCargoPublish(t *testing.T) {
	n := startTenants(t, tenant.Config{StorageQuota: units.Size(64 << 10)}, &atomic.Int64{})
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	if out, err := ci.publish(t, ci.crate(t, "web-small", "0.1.0", "", "")); err != nil {
		t.Fatalf("cargo publish web-small: %v\n%s", err, out)
	}
	before := n.TenantUsage(t, "web").Bytes

	dir := ci.crate(t, "web-big", "0.1.0", "", "")
	noise := make([]byte, 100<<10) // random: the .crate stays as large
	rand.Read(noise)
	if err := os.WriteFile(filepath.Join(dir, "noise.bin"), noise, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := ci.publish(t, dir)
	if err == nil || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "tenant web is over its storage quota") {
		t.Fatalf("cargo publish over the quota: %v\n%s", err, out)
	}
	crate := packaged(t, dir, "web-big", "0.1.0")
	if resp, _ := get(t, "http://"+n.Addr+"/cargo/index/we/b-/web-big"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("index of the refused crate: %d", resp.StatusCode)
	}
	if left, _ := filepath.Glob(filepath.Join(n.DataDir, "tmp", "*")); n.Stored(blobKey(crate)) || len(left) != 0 {
		t.Fatalf("the refused .crate was stored (%v) or left temp files %v", n.Stored(blobKey(crate)), left)
	}
	if after := n.TenantUsage(t, "web").Bytes; after != before {
		t.Fatalf("usage %d after the refused publish, was %d", after, before)
	}

	// The raw refusal, before the .crate's bytes.
	readme := metadata("web-raw", "0.1.0")
	readme["readme"] = strings.Repeat("a README line\n", 2000) // past what the server reads before the handler
	body := publishBody(readme, crate)
	head := body[:len(body)-len(crate)]
	status, b, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", basicToken(testUser, testPass), len(body), head)
	wantCargoError(t, "raw publish over the quota", status, b, http.StatusForbidden, "tenant web", "storage quota")

	if out, err := ci.publish(t, ci.crate(t, "web-big", "0.2.0", "", "")); err != nil {
		t.Fatalf("cargo publish of a crate that fits: %v\n%s", err, out)
	}
	if after := n.TenantUsage(t, "web").Bytes; after <= before {
		t.Fatalf("usage %d after a publish that fits, was %d", after, before)
	}
}

// TestTenantPullLimitCargo: a spent pull limit is 429 with Retry-After in
// cargo's shape; an hour later on the limiters' clock it is served again.
func TestTenantPullLimitCargo(t *testing.T) {
	skew := &atomic.Int64{}
	n := startTenants(t, tenant.Config{RateLimit: tenant.RateLimit{Pull: 3}}, skew)
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	if out, err := ci.publish(t, ci.crate(t, "web-lib", "0.1.0", "", "")); err != nil {
		t.Fatalf("cargo publish: %v\n%s", err, out)
	}
	url := "http://" + n.Addr + "/cargo/api/v1/crates/web-lib/0.1.0/download"
	var resp *http.Response
	var body []byte
	for range 5 {
		if resp, body = get(t, url); resp.StatusCode != http.StatusOK {
			break
		}
	}
	wantCargoError(t, "over the pull limit", resp.StatusCode, string(body), http.StatusTooManyRequests, "tenant web", "pull rate limit")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	skew.Add(int64(time.Hour))
	if resp, body := get(t, url); resp.StatusCode != http.StatusOK {
		t.Fatalf("an hour later: %d %s", resp.StatusCode, body)
	}
}

// TestTenantPushLimitCargo: a publish counts once, against the tenant of
// its crate: the default tenant's push limit of 1 does not stop web's
// publishes, web's limit of 2 stops its third (429 in cargo's shape,
// which cargo prints), and the default tenant's own publish still goes
// through once.
func TestTenantPushLimitCargo(t *testing.T) {
	n := startTenants(t, tenant.Config{RateLimit: tenant.RateLimit{Push: 2}}, &atomic.Int64{},
		tenant.Config{Name: tenant.Default, RateLimit: tenant.RateLimit{Push: 1}})
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	for _, name := range []string{"web-a", "web-b"} {
		if out, err := ci.publish(t, ci.crate(t, name, "0.1.0", "", "")); err != nil {
			t.Fatalf("cargo publish %s: %v\n%s", name, err, out)
		}
	}
	out, err := ci.publish(t, ci.crate(t, "web-c", "0.1.0", "", ""))
	if err == nil || !strings.Contains(out, "429") || !strings.Contains(out, "tenant web has reached its push rate limit") {
		t.Fatalf("cargo publish past web's push limit: %v\n%s", err, out)
	}
	if out, err := ci.publish(t, ci.crate(t, "other", "0.1.0", "", "")); err != nil {
		t.Fatalf("cargo publish of the default tenant: %v\n%s", err, out)
	}
}
