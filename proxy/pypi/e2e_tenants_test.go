package pypi_test

import (
	"io"
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
	"nora/proxy/proxytest"
	"nora/proxy/pypi/pypitest"
)

// startTenants runs a nora whose tenant web owns the projects web-*, with
// the given limits, and whose limiters' clock is now.
func startTenants(t *testing.T, web tenant.Config, now func() time.Time) *noraUnderTest {
	t.Helper()
	web.Name, web.Prefixes = "web", []string{"pypi:web-*"}
	cfg := pypiConfig(pypitest.New(t, pypitest.Options{}))
	cfg.MaxUploadSize = 512 << 10
	return &noraUnderTest{proxytest.Start(t, proxy.AppConfig{PyPI: cfg, Auth: authConfig(t, true, true),
		Tenants: []tenant.Config{web}, TenantClock: now})}
}

// writeWheel writes a wheel of name at version carrying extra bytes of
// text, and returns its path and bytes.
func writeWheel(t *testing.T, name, version string, extra int) (string, []byte) {
	t.Helper()
	file, data := makeWheel(t, name, version, "", "# "+string(randomBytes(extra, 7))+"\n")
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// wantReasonError checks a refusal in PyPI's shape: status, and every
// part of want in both the reason phrase and the plain-text body.
func wantReasonError(t *testing.T, what string, resp *http.Response, body string, status int, want ...string) {
	t.Helper()
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%s: %s (%s) %s, want %d in plain text", what, resp.Status, resp.Header.Get("Content-Type"), body, status)
	}
	for _, w := range want {
		if !strings.Contains(resp.Status, w) || !strings.Contains(body, w) {
			t.Fatalf("%s: %q / %q do not say %q", what, resp.Status, body, w)
		}
	}
}

// TestTenantQuotaTwine: twine upload of a file past web's quota is refused
// with the tenant and the quota in twine's output; nothing of it remains
// (no file, no temp file, usage unchanged); a file that fits then uploads.
func TestTenantQuotaTwine(t *testing.T) {
	n := startTenants(t, tenant.Config{StorageQuota: units.Size(64 << 10)}, nil)
	small, _ := writeWheel(t, "web-small", "1.0.0", 100)
	mustTwine(t, n, small)
	before := n.TenantUsage(t, "web").Bytes
	if before <= 0 {
		t.Fatalf("usage after an upload: %d", before)
	}

	big, bigData := writeWheel(t, "web-big", "1.0.0", 100<<10)
	out, err := twine(t, n, testUser, testPass, big)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "tenant web") || !strings.Contains(out, "storage quota") {
		t.Fatalf("twine upload over the quota: %v\n%s", err, out)
	}
	if resp, _ := httpGet(t, n.URL+"/simple/web-big/"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused project has a page: %d", resp.StatusCode)
	}
	if n.blobStored(bigData) || n.uploadTemps(t) != 0 {
		t.Fatalf("the refused file was stored (%v) or left a temp file (%d)", n.blobStored(bigData), n.uploadTemps(t))
	}
	if after := n.TenantUsage(t, "web").Bytes; after != before {
		t.Fatalf("usage %d after the refused upload, was %d", after, before)
	}

	fits, _ := writeWheel(t, "web-big", "1.0.0", 100)
	mustTwine(t, n, fits)
	if after := n.TenantUsage(t, "web").Bytes; after <= before {
		t.Fatalf("usage %d after an upload that fits, was %d", after, before)
	}
	// Other projects belong to the default tenant, which has no quota.
	other, _ := writeWheel(t, "data-big", "1.0.0", 100<<10)
	mustTwine(t, n, other)
}

// TestTenantQuotaUploadShapes: the raw refusals: a form whose file passes
// the quota, declared or sent chunked (cut off at the quota: this one is
// past max_upload_size too, which a body read whole would be refused
// for), and one that names its project only after the file; each 403
// with the message as the reason, nothing left.
func TestTenantQuotaUploadShapes(t *testing.T) {
	n := startTenants(t, tenant.Config{StorageQuota: units.Size(64 << 10)}, nil)
	file, data := makeWheel(t, "web-lib", "1.0.0", "", "# "+string(randomBytes(100<<10, 8))+"\n")
	f := twineForm("web-lib", "1.0.0", "bdist_wheel", file, data, "")
	body, ct := f.encode(t)
	resp, msg := post(t, n.URL+"/simple/", testUser, testPass, ct, body)
	wantReasonError(t, "declared form", resp, msg, http.StatusForbidden, "tenant web", "storage quota")

	hugeFile, huge := makeWheel(t, "web-lib", "1.0.0", "", "# "+string(randomBytes(1<<20, 9))+"\n")
	body, ct = twineForm("web-lib", "1.0.0", "bdist_wheel", hugeFile, huge, "").encode(t)
	resp, msg = postChunked(t, n.URL+"/simple/", ct, body)
	wantReasonError(t, "chunked form", resp, msg, http.StatusForbidden, "tenant web", "storage quota")

	// The name after the file: the file is checked once the form is in.
	late := &form{filename: file, data: data}
	for _, kv := range f.fields {
		if kv[0] != "name" {
			late.fields = append(late.fields, kv)
		}
	}
	body, ct = late.encode(t)
	body = append(body[:len(body)-len("--"+boundaryOf(ct)+"--\r\n")], []byte("--"+boundaryOf(ct)+"\r\n"+
		"Content-Disposition: form-data; name=\"name\"\r\n\r\nweb-lib\r\n--"+boundaryOf(ct)+"--\r\n")...)
	resp, msg = post(t, n.URL+"/simple/", testUser, testPass, ct, body)
	wantReasonError(t, "name after the file", resp, msg, http.StatusForbidden, "tenant web", "storage quota")

	if n.blobStored(data) || n.uploadTemps(t) != 0 {
		t.Fatalf("a refused file was stored (%v) or left a temp file (%d)", n.blobStored(data), n.uploadTemps(t))
	}
	if resp, _ := httpGet(t, n.URL+"/simple/web-lib/"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused project has a page: %d", resp.StatusCode)
	}
}

// boundaryOf is the boundary of a multipart Content-Type.
func boundaryOf(ct string) string {
	_, b, _ := strings.Cut(ct, "boundary=")
	return b
}

// postChunked posts body as testUser without a declared length.
func postChunked(t *testing.T, url, ct string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, struct{ io.Reader }{strings.NewReader(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestTenantPullLimitPyPI: a spent pull limit is 429 with Retry-After in
// PyPI's shape (the message as the reason and the body); an hour later on
// the limiters' clock the page is served again.
func TestTenantPullLimitPyPI(t *testing.T) {
	var skew atomic.Int64
	n := startTenants(t, tenant.Config{RateLimit: tenant.RateLimit{Pull: 3}}, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	wheel, _ := writeWheel(t, "web-lib", "1.0.0", 100)
	mustTwine(t, n, wheel)
	var resp *http.Response
	var body []byte
	for range 5 {
		if resp, body = httpGet(t, n.URL+"/simple/web-lib/"); resp.StatusCode != http.StatusOK {
			break
		}
	}
	wantReasonError(t, "over the pull limit", resp, string(body), http.StatusTooManyRequests, "tenant web", "pull rate limit")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp, _ := httpGet(t, n.URL+"/simple/data-lib/"); resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("the default tenant is limited too")
	}
	skew.Store(int64(time.Hour))
	if resp, body := httpGet(t, n.URL+"/simple/web-lib/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("an hour later: %d %s", resp.StatusCode, body)
	}
}
