package npm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/opencontainers/go-digest"

	"nora/auth"
	"nora/auth/tenant"
	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// The tenant tests run two teams on one nora: web owns @web/*, its user
// alice; data owns @data/*, its user bob.
var teamUsers = []string{"alice", "bob"}

// teamPass is a team user's password.
func teamPass(user string) string { return user + "-pw" }

// tenantNora is a nora with tenants whose rate limits run on a clock the
// test moves.
type tenantNora struct {
	*proxytest.Nora
	skew *atomic.Int64 // nanoseconds the limiters' clock is ahead
}

// startTenants runs a nora with cfg, the tenants web and data of the given
// limits, and an htpasswd file of teamUsers.
func startTenants(t *testing.T, cfg npm.Config, web, data tenant.Config) *tenantNora {
	t.Helper()
	web.Name, web.Prefixes, web.Subjects = "web", []string{"npm:@web/*"}, []string{"alice"}
	data.Name, data.Prefixes, data.Subjects = "data", []string{"npm:@data/*"}, []string{"bob"}
	var lines []byte
	for _, u := range teamUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(teamPass(u)), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h)+"\n"...)
	}
	ac := auth.DefaultConfig()
	ac.Htpasswd = filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(ac.Htpasswd, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	skew := &atomic.Int64{}
	n := proxytest.Start(t, proxy.AppConfig{Npm: cfg, Auth: &ac, Tenants: []tenant.Config{web, data},
		TenantClock: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	return &tenantNora{Nora: n, skew: skew}
}

// client is an npm CLI logged in as user.
func (n *tenantNora) client(t *testing.T, user string) *npmClient {
	return newClient(t, n.Nora, user, teamPass(user))
}

// hostedTeams is an npm section where both teams' scopes are hosted.
func hostedTeams(t *testing.T) npm.Config {
	return npm.Config{Upstream: npmtest.NewRegistry(t).URL, HostedNames: []string{"@web/*", "@data/*"}}
}

// wantNpmError checks a refusal in npm's shape: status, {"error": msg}
// with every part of want in msg.
func wantNpmError(t *testing.T, what string, resp *http.Response, body []byte, status int, want ...string) {
	t.Helper()
	var e struct{ Error string }
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil {
		t.Fatalf("%s: %d %s, want %d in npm's error shape", what, resp.StatusCode, body, status)
	}
	for _, w := range want {
		if !strings.Contains(e.Error, w) {
			t.Fatalf("%s: error %q does not say %q", what, e.Error, w)
		}
	}
}

// TestTenantPullLimitNpm: once web's pull limit is spent, npm install of
// its package fails with the 429 (in npm's shape, with Retry-After) while
// data's is served; an hour later (on the limiters' clock) web's installs
// again.
func TestTenantPullLimitNpm(t *testing.T) {
	n := startTenants(t, hostedTeams(t), tenant.Config{RateLimit: tenant.RateLimit{Pull: 8}}, tenant.Config{})
	alice, bob := n.client(t, "alice"), n.client(t, "bob")
	alice.publish("@web/lib", "1.0.0", nil, "module.exports = 'web';\n")
	bob.publish("@data/lib", "1.0.0", nil, "module.exports = 'data';\n")
	alice.install("@web/lib")

	// Spend what is left of the limit.
	cred := basicAuth("alice", teamPass("alice"))
	var resp *http.Response
	var body []byte
	for range 10 {
		if resp, body = get(t, n.URL+"/npm/@web%2flib", "Authorization", cred); resp.StatusCode != http.StatusOK {
			break
		}
	}
	wantNpmError(t, "GET over the pull limit", resp, body, http.StatusTooManyRequests, "tenant web", "pull rate limit")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// A fresh client (no npm cache) so that npm must ask.
	n.client(t, "alice").mustFail(newProject(t), "429", "install", "@web/lib", "--no-audit", "--no-fund")
	if got := installedVersion(t, bob.install("@data/lib"), "@data/lib"); got != "1.0.0" {
		t.Fatalf("data's install while web is limited: %s", got)
	}
	n.skew.Add(int64(time.Hour))
	if got := installedVersion(t, n.client(t, "alice").install("@web/lib"), "@web/lib"); got != "1.0.0" {
		t.Fatalf("web's install an hour later: %s", got)
	}
}

// TestTenantQuotaNpmPublish: a publish whose tarball passes web's quota is
// refused with the tenant and the quota in npm's output; nothing of it
// remains (no version, no temp file, usage unchanged); one that fits then
// succeeds.
func TestTenantQuotaNpmPublish(t *testing.T) {
	n := startTenants(t, hostedTeams(t), tenant.Config{StorageQuota: units.Size(64 << 10)}, tenant.Config{})
	alice := n.client(t, "alice")
	alice.publish("@web/small", "1.0.0", nil, "module.exports = 'small';\n")
	before := n.TenantUsage(t, "web").Bytes
	if before <= 0 {
		t.Fatalf("usage after a publish: %d", before)
	}

	big := npmtest.WritePackage(t, "@web/big", "1.0.0", nil, "module.exports = 'big';\n")
	noise := make([]byte, 100<<10) // random: the tarball stays as large
	rand.Read(noise)
	if err := os.WriteFile(filepath.Join(big, "noise.bin"), noise, 0o600); err != nil {
		t.Fatal(err)
	}
	out := alice.mustFail(big, "over its storage quota", "publish")
	if !strings.Contains(out, "tenant web") {
		t.Fatalf("npm publish over quota does not name the tenant and quota:\n%s", out)
	}
	if resp, body := get(t, n.URL+"/npm/@web%2fbig"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of the refused package: %d %s", resp.StatusCode, body)
	}
	if tmp := n.TempFiles(); len(tmp) != 0 {
		t.Fatalf("temp files after the refused publish: %v", tmp)
	}
	if after := n.TenantUsage(t, "web").Bytes; after != before {
		t.Fatalf("usage %d after the refused publish, was %d", after, before)
	}

	alice.publish("@web/big", "1.0.0", nil, "module.exports = 'fits';\n")
	if after := n.TenantUsage(t, "web").Bytes; after <= before {
		t.Fatalf("usage %d after a publish that fits, was %d", after, before)
	}
	// data has no quota: its large publish goes through.
	bob := n.client(t, "bob")
	bigData := npmtest.WritePackage(t, "@data/big", "1.0.0", nil, "module.exports = 'big';\n")
	if err := os.WriteFile(filepath.Join(bigData, "noise.bin"), noise, 0o600); err != nil {
		t.Fatal(err)
	}
	bob.must(bigData, "publish")
}

// TestTenantQuotaNpmDeclared: a body whose declared length alone passes
// the quota is refused before it is read (a body the document reader would
// refuse as malformed gets the quota's 403, not a 400); a chunked publish
// that passes it is refused, cut off once its bytes so far pass it; nothing
// remains.
func TestTenantQuotaNpmDeclared(t *testing.T) {
	cfg := hostedTeams(t)
	cfg.MaxPublishSize = 10 << 20
	n := startTenants(t, cfg, tenant.Config{StorageQuota: units.Size(64 << 10)}, tenant.Config{})
	cred := basicAuth("alice", teamPass("alice"))

	junk := bytes.Repeat([]byte("x"), 10<<20) // 10 MiB: at least 1.5 MiB of tarball
	resp, body := do(t, http.MethodPut, n.URL+"/npm/@web%2fhuge", bytes.NewReader(junk), "Authorization", cred, "Content-Type", "application/json")
	wantNpmError(t, "PUT with a declared length over the quota", resp, body, http.StatusForbidden, "tenant web", "storage quota")

	tgz := npmtest.Tarball(t, "@web/chunked", "1.0.0", 100<<10)
	doc := publishDoc("@web/chunked", "1.0.0", tgz)
	chunked := struct{ io.Reader }{bytes.NewReader(doc)} // no length: sent chunked
	resp, body = do(t, http.MethodPut, n.URL+"/npm/@web%2fchunked", chunked, "Authorization", cred, "Content-Type", "application/json")
	wantNpmError(t, "chunked publish over the quota", resp, body, http.StatusForbidden, "tenant web", "storage quota")
	// A chunked body past max_publish_size too: cut off at the quota (once
	// its bytes must carry more tarball than the quota holds), not read to
	// the size cap.
	huge := []byte(`{"name":"@web/chunked","_attachments":{"chunked-1.0.0.tgz":{"data":"` + strings.Repeat("A", 12<<20) + `"}}}`)
	resp, body = do(t, http.MethodPut, n.URL+"/npm/@web%2fchunked", struct{ io.Reader }{bytes.NewReader(huge)}, "Authorization", cred, "Content-Type", "application/json")
	wantNpmError(t, "chunked body over the quota", resp, body, http.StatusForbidden, "tenant web", "storage quota")
	if resp, body := get(t, n.URL+"/npm/@web%2fchunked"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of the refused package: %d %s", resp.StatusCode, body)
	}
	if tmp := n.TempFiles(); len(tmp) != 0 {
		t.Fatalf("temp files after the refused publishes: %v", tmp)
	}
	if n.Stored(cache.BlobKey(digest.FromBytes(tgz))) {
		t.Fatal("the refused tarball was stored")
	}
}

// TestTenantBandwidthNpm: web's cold tarball fills run at its bandwidth
// (16 kB/s: a 64 KiB burst, then the other 64 KiB over 4 s, past the
// client's 2 s of patience), data's at full speed meanwhile; the fill goes
// on after its client gave up, and the tarball is then served whole.
func TestTenantBandwidthNpm(t *testing.T) {
	up := npmtest.NewRegistry(t)
	webPath := up.Publish(t, "@web/big", "1.0.0", 128<<10)
	dataPath := up.Publish(t, "@data/big", "1.0.0", 128<<10)
	n := startTenants(t, npm.Config{Upstream: up.URL}, tenant.Config{RateLimit: tenant.RateLimit{Bandwidth: units.Size(16000)}}, tenant.Config{})
	get(t, n.URL+"/npm/@web%2fbig")
	get(t, n.URL+"/npm/@data%2fbig")

	fetch := func(path string, patience time.Duration) (int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/npm"+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return io.Copy(io.Discard, resp.Body)
	}
	if got, err := fetch(dataPath, time.Minute); err != nil || got < 128<<10 {
		t.Fatalf("data's cold tarball: %d bytes, %v", got, err)
	}
	// Not a timing assertion: throttled, the tarball takes 4 s at least;
	// unthrottled, milliseconds.
	if got, err := fetch(webPath, 2*time.Second); err == nil {
		t.Fatalf("web's cold tarball came whole (%d bytes) in less time than its bandwidth allows", got)
	}
	if got, err := fetch(webPath, time.Minute); err != nil || got < 128<<10 {
		t.Fatalf("web's tarball after its fill: %d bytes, %v", got, err)
	}
}
