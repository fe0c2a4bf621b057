package docker_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/internal/units"
)

// quotaTenants are team-a, whose hosted bytes are capped at quota, and
// team-b, whose are not.
func quotaTenants(quota int64) []tenant.Config {
	return []tenant.Config{
		{Name: "team-a", Prefixes: []string{"team-a/**"}, StorageQuota: units.Size(quota)},
		{Name: "team-b", Prefixes: []string{"team-b/**"}},
	}
}

// wantOverQuota checks a refusal for team-a's quota: the OCI code DENIED
// and a message that names the tenant and its quota.
func wantOverQuota(t *testing.T, what, out string) {
	t.Helper()
	if !strings.Contains(out, "DENIED") || !strings.Contains(out, "tenant team-a") || !strings.Contains(out, "storage quota") {
		t.Fatalf("%s: not refused for team-a's quota:\n%s", what, out)
	}
}

// TestTenantQuotaCranePush: crane pushes an image that would take team-a
// past its storage quota; it is refused with DENIED naming the tenant
// and the quota, before its layer is stored, and nothing of it remains.
// An image that fits then goes in, and team-b pushes the big one.
func TestTenantQuotaCranePush(t *testing.T) {
	const quota = 128 << 10
	n := startNora(t, options{tenants: quotaTenants(quota)})
	c := newCLI(t, n.Addr, testUser, testPass)
	config := []byte(fmt.Sprintf(`{"test":%q}`, digest.FromBytes(randomBytes(32))))
	base, big, small := artifact(t, config, 16<<10), artifact(t, config, 300<<10), artifact(t, config, 32<<10)

	c.mustCrane("push", ociLayout(t, base, "base"), n.Addr+"/team-a/app:base")
	want := holds(t, base)
	if u := n.TenantUsage(t, "team-a"); u.Bytes != want || u.Quota != quota {
		t.Fatalf("after the first push: %+v, want %d bytes of %d", u, want, quota)
	}

	// big shares base's config: crane uploads its layer only, and that is
	// what the quota refuses.
	out, err := c.crane("push", ociLayout(t, big, "big"), n.Addr+"/team-a/app:big")
	if err == nil {
		t.Fatalf("a push past the quota went through:\n%s", out)
	}
	wantOverQuota(t, "crane push past the quota", out)
	if !strings.Contains(out, "131.1 KB") { // the quota, as quotas are written
		t.Fatalf("crane's error does not give the quota:\n%s", out)
	}
	n.WaitNoTempFiles(t, 10*time.Second)
	if n.stored(layerOf(t, big)) {
		t.Fatal("the refused layer was stored")
	}
	resp, _ := do(t, "HEAD", n.url("/v2/team-a/app/blobs/"+layerOf(t, big)), testUser, testPass, nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("the refused layer is linked in team-a/app: HEAD %d", resp.StatusCode)
	}
	if out, err := c.crane("manifest", n.Addr+"/team-a/app:big"); err == nil {
		t.Fatalf("the refused image has a manifest: %s", out)
	}
	if u := n.TenantUsage(t, "team-a"); u.Bytes != want {
		t.Fatalf("usage after the refused push: %d bytes, want %d", u.Bytes, want)
	}

	c.mustCrane("push", ociLayout(t, small, "small"), n.Addr+"/team-a/app:small")
	checkPulls(t, c, n.Addr+"/team-a/app", "small", digestOf(t, small))
	want += holds(t, small) - int64(len(config)) // the config is held once
	if u := n.TenantUsage(t, "team-a"); u.Bytes != want {
		t.Fatalf("usage after the push that fits: %d bytes, want %d", u.Bytes, want)
	}

	c.mustCrane("push", ociLayout(t, big, "big"), n.Addr+"/team-b/app:big")
	checkPulls(t, c, n.Addr+"/team-b/app", "big", digestOf(t, big))
	if u := n.TenantUsage(t, "team-b"); u.Bytes != holds(t, big) {
		t.Fatalf("team-b's usage: %d bytes, want %d", u.Bytes, holds(t, big))
	}
}

// unsized hides a body's length from net/http: the request goes out
// chunked, with no Content-Length.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

// TestTenantQuotaChunkedUpload: a blob of no declared length is cut off
// where it passes the quota: 403 DENIED, the session is gone, no temp
// bytes remain. A declared length past it is refused before the body is
// read; chunks that fit go in. A mount past it is refused as well.
func TestTenantQuotaChunkedUpload(t *testing.T) {
	const quota = 256 << 10
	n := startNora(t, options{tenants: quotaTenants(quota)})
	blob := randomBytes(1 << 20)
	noSession := func(what, loc string) {
		t.Helper()
		resp, body := do(t, "GET", n.url(loc), testUser, testPass, nil, nil)
		wantError(t, what+": its session", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)
		n.WaitNoTempFiles(t, 5*time.Second)
	}

	// A chunked PATCH that fits, then one that would pass the quota with
	// what the session already holds.
	loc := startSession(t, n, "team-a/app")
	resp, body := do(t, "PATCH", n.url(loc), testUser, testPass, nil, unsized{bytes.NewReader(blob[:quota/2])})
	if resp.StatusCode != 202 || resp.Header.Get("Range") != fmt.Sprintf("0-%d", quota/2-1) {
		t.Fatalf("chunked PATCH within the quota: %d %s", resp.StatusCode, body)
	}
	loc = resp.Header.Get("Location")
	resp, body = do(t, "PATCH", n.url(loc), testUser, testPass, nil, unsized{bytes.NewReader(blob[quota/2:])})
	wantError(t, "chunked PATCH past the quota", 403, "DENIED", resp.StatusCode, body)
	wantOverQuota(t, "chunked PATCH past the quota", string(body))
	noSession("chunked PATCH past the quota", loc)

	// A chunked monolithic POST and a chunked final PUT: the same.
	d := digest.FromBytes(blob)
	resp, body = do(t, "POST", n.url("/v2/team-a/app/blobs/uploads/?digest="+d.String()), testUser, testPass, nil, unsized{bytes.NewReader(blob)})
	wantError(t, "chunked monolithic POST", 403, "DENIED", resp.StatusCode, body)
	n.WaitNoTempFiles(t, 5*time.Second)
	loc = startSession(t, n, "team-a/app")
	resp, body = do(t, "PUT", n.url(loc+"?digest="+d.String()), testUser, testPass, nil, unsized{bytes.NewReader(blob)})
	wantError(t, "chunked final PUT", 403, "DENIED", resp.StatusCode, body)
	noSession("chunked final PUT", loc)
	if n.stored(d.String()) {
		t.Fatal("a blob past the quota was stored")
	}

	// A declared length past the quota is refused at once: the client
	// sends only the start of its body (what the server reads before the
	// handler runs), which a server reading the body would wait for.
	octets := "Content-Type: application/octet-stream\r\n"
	loc = startSession(t, n, "team-a/app")
	status, text := rawExchange(t, n.Addr, "PATCH", loc, []string{octets, fmt.Sprintf("Content-Length: %d\r\n", 64<<20)}, blob[:bodyStart])
	wantError(t, "PATCH with a declared length past the quota", 403, "DENIED", status, []byte(text))
	noSession("PATCH with a declared length past the quota", loc)

	// A manifest counts as well, by its declared length.
	status, text = rawExchange(t, n.Addr, "PUT", "/v2/team-a/app/manifests/v1",
		[]string{"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n", fmt.Sprintf("Content-Length: %d\r\n", quota+1)}, blob[:quota+1])
	wantError(t, "manifest PUT past the quota", 403, "DENIED", status, []byte(text))
	wantOverQuota(t, "manifest PUT past the quota", text)

	// team-b has no quota: the whole blob goes in, chunked.
	loc = startSession(t, n, "team-b/app")
	resp, body = do(t, "PUT", n.url(loc+"?digest="+d.String()), testUser, testPass, nil, unsized{bytes.NewReader(blob)})
	if resp.StatusCode != 201 {
		t.Fatalf("team-b's chunked PUT: %d %s", resp.StatusCode, body)
	}
	// Mounting team-b's blob into team-a would link it there: refused
	// the same, nothing linked.
	resp, body = do(t, "POST", n.url("/v2/team-a/app/blobs/uploads/?mount="+d.String()+"&from=team-b/app"), testUser, testPass, nil, nil)
	wantError(t, "mount past the quota", 403, "DENIED", resp.StatusCode, body)
	if resp, _ := do(t, "HEAD", n.url("/v2/team-a/app/blobs/"+d.String()), testUser, testPass, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("a refused mount linked the blob: HEAD %d", resp.StatusCode)
	}
	if u := n.TenantUsage(t, "team-a"); u.Bytes != 0 {
		t.Fatalf("team-a holds %d bytes after refused uploads only", u.Bytes)
	}
}
