package maven_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nora/auth"
	"nora/auth/tenant"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/proxytest"
)

// startTenants runs a nora where user ci may deploy, whose tenant web owns
// the artifacts com.web:* (unless it says), with the given limits, and whose limiters'
// clock is ahead by skew. Uploads are capped at 512 KiB.
func startTenants(t *testing.T, web tenant.Config, skew *atomic.Int64, urls ...string) *noraUnderTest {
	t.Helper()
	web.Name = "web"
	if web.Prefixes == nil {
		web.Prefixes = []string{"maven:com.web:*"}
	}
	mc := maven.DefaultConfig()
	mc.MaxUploadSize = 512 << 10
	for _, u := range urls {
		mc.Upstreams = append(mc.Upstreams, maven.UpstreamConfig{URL: u})
	}
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	return &noraUnderTest{proxytest.Start(t, proxy.AppConfig{Maven: mc, Auth: ac, Tenants: []tenant.Config{web},
		TenantClock: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})}
}

// put sends a PUT as ci; chunked sends the body without a length.
func put(t *testing.T, url, body string, chunked bool) (*http.Response, string) {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = struct{ io.Reader }{r}
	}
	req, err := http.NewRequest(http.MethodPut, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("ci", "secret")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// wantPlain checks a refusal in plain text whose body says every part of
// want; reason too checks the reason phrase (which mvn prints).
func wantPlain(t *testing.T, what string, resp *http.Response, body string, status int, reason bool, want ...string) {
	t.Helper()
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%s: %s (%s) %q, want %d in plain text", what, resp.Status, resp.Header.Get("Content-Type"), body, status)
	}
	for _, w := range want {
		if !strings.Contains(body, w) || (reason && !strings.Contains(resp.Status, w)) {
			t.Fatalf("%s: %q / %q do not say %q", what, resp.Status, body, w)
		}
	}
}

// TestTenantQuotaMavenDeploy: a deployed file past web's quota is refused
// with 403 naming the tenant and the quota, before its body is read when
// its length is declared (this one is past max_upload_size too, which the
// deploy would answer 413 once reading), cut off at the quota when it is
// sent chunked (past max_upload_size too); nothing remains, and a file
// that fits is then deployed.
func TestTenantQuotaMavenDeploy(t *testing.T) {
	n := startTenants(t, tenant.Config{StorageQuota: units.Size(64 << 10)}, &atomic.Int64{})
	const dir = "com/web/lib/"
	if resp, body := put(t, n.base()+dir+"1.0/lib-1.0.pom", "<project/>", false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("small deploy: %d %s", resp.StatusCode, body)
	}
	before := n.TenantUsage(t, "web").Bytes
	huge := strings.Repeat("j", 1<<20)
	jar := dir + "1.0/lib-1.0.jar"
	resp, body := put(t, n.base()+jar, huge, false)
	wantPlain(t, "declared deploy over the quota", resp, body, http.StatusForbidden, true, "tenant web", "storage quota")
	resp, body = put(t, n.base()+jar, huge, true)
	wantPlain(t, "chunked deploy over the quota", resp, body, http.StatusForbidden, true, "tenant web", "storage quota")

	if resp, _ := fetch(t, http.MethodGet, n.base()+jar); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused jar is served: %d", resp.StatusCode)
	}
	if left, _ := filepath.Glob(filepath.Join(n.DataDir, "tmp", "maven-upload-*")); len(left) != 0 {
		t.Fatalf("temp files after the refused deploys: %v", left)
	}
	if after := n.TenantUsage(t, "web").Bytes; after != before {
		t.Fatalf("usage %d after the refused deploys, was %d", after, before)
	}
	if resp, body := put(t, n.base()+jar, "a jar that fits", false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploy that fits: %d %s", resp.StatusCode, body)
	}
	if after := n.TenantUsage(t, "web").Bytes; after <= before {
		t.Fatalf("usage %d after a deploy that fits, was %d", after, before)
	}
	// Other artifacts are the default tenant's, which has no quota.
	if resp, body := put(t, n.base()+"com/data/lib/1.0/lib-1.0.jar", huge[:256<<10], false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploy of the default tenant: %d %s", resp.StatusCode, body)
	}
}

// TestTenantPullLimitMaven: a spent pull limit is 429 in plain text with
// Retry-After, the message the reason phrase too (mvn prints it); an hour later on the limiters' clock it is served again.
func TestTenantPullLimitMaven(t *testing.T) {
	skew := &atomic.Int64{}
	n := startTenants(t, tenant.Config{RateLimit: tenant.RateLimit{Pull: 3}}, skew)
	jar := n.base() + "com/web/lib/1.0/lib-1.0.jar"
	if resp, body := put(t, jar, "jar", false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploy: %d %s", resp.StatusCode, body)
	}
	var resp *http.Response
	var body []byte
	for range 5 {
		if resp, body = fetch(t, http.MethodGet, jar); resp.StatusCode != http.StatusOK {
			break
		}
	}
	wantPlain(t, "over the pull limit", resp, string(body), http.StatusTooManyRequests, true, "tenant web", "pull rate limit")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	skew.Add(int64(time.Hour))
	if resp, body := fetch(t, http.MethodGet, jar); resp.StatusCode != http.StatusOK {
		t.Fatalf("an hour later: %d %s", resp.StatusCode, body)
	}
}

// TestTenantQuotaMvnDeploy: mvn deploy past web's quota fails showing the
// tenant and the quota (mvn prints the status and the reason phrase), and
// nothing of it is served.
func TestTenantQuotaMvnDeploy(t *testing.T) {
	up := confusionUpstream(t)
	n := startTenants(t, tenant.Config{Prefixes: []string{"maven:com.acme:*"}, StorageQuota: units.Size(300)}, &atomic.Int64{}, up.URL)
	settings := withServer(strings.Replace(userSettings, "NORA", n.base(), 1), "ci", "secret")
	project := fromTemplate(t, "lib", map[string]string{"VERSION": "1.0", "NORA": n.base(), "BUILD": "quota"})
	out, err := runMvn(t, project, settings, filepath.Join(t.TempDir(), "repo"), "deploy")
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "tenant web is over its storage quota") {
		t.Fatalf("mvn deploy over the quota: %v\n%s", err, lastLines(out, 40))
	}
	for _, p := range []string{"1.0/lib-1.0.jar", "1.0/lib-1.0.pom"} {
		if resp, _ := fetch(t, http.MethodGet, n.base()+"com/acme/lib/"+p); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("after the refused deploy, GET %s: %d", p, resp.StatusCode)
		}
	}
	if u := n.TenantUsage(t, "web").Bytes; u != 0 {
		t.Fatalf("usage %d after the refused deploy", u)
	}
}
