package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"nora/auth/tenant"
	"nora/cache/cachetest"
	"nora/hosted/maven"
	"nora/internal/units"
)

// serveTenants serves the admin API with two tenants counting a real
// hosted Maven registry; it returns the client and the registry.
func serveTenants(t *testing.T) (*Client, *maven.Registry, *tenant.Set) {
	t.Helper()
	c, store := cachetest.OpenStore(t, t.TempDir())
	reg, err := maven.Open(context.Background(), store, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := tenant.New(tenant.Options{Tenants: []tenant.Config{
		{Name: "acme", Prefixes: []string{"maven:com.acme:*"}, Subjects: []string{"team-acme"}, StorageQuota: units.Size(1 << 20),
			RateLimit: tenant.RateLimit{Pull: 600, Push: 60, Bandwidth: units.Size(10 << 20)}, Weight: 3},
		{Name: "other", Prefixes: []string{"other/**"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	set.AddSource("maven", reg)
	s := startServer(t, Options{Socket: shortSocket(t), Tenants: set})
	return NewClient(s.Socket()), reg, set
}

func TestTenantsAPI(t *testing.T) {
	cl, reg, set := serveTenants(t)
	ctx := context.Background()
	co := maven.Coord{Group: "com/acme", Artifact: "lib", Version: "1.0", File: "lib-1.0.jar"}
	jar := strings.Repeat("jar bytes ", 1000)
	if _, err := reg.Upload(ctx, co, strings.NewReader(jar), int64(len(jar)), 1<<20, "ci"); err != nil {
		t.Fatal(err)
	}
	set.Changed("maven", "com.acme:lib")

	ts, err := cl.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[0].Name != "acme" || ts[1].Name != "other" || ts[2].Name != tenant.Default {
		t.Fatalf("tenants in the wrong order: %+v", ts)
	}
	acme := ts[0]
	// Everything the configuration says, in bytes.
	if want := (TenantInfo{Name: "acme", Prefixes: []string{"maven:com.acme:*"}, Subjects: []string{"team-acme"},
		StorageQuota: 1 << 20, StorageBytes: acme.StorageBytes, Objects: acme.Objects,
		RateLimit: TenantRateLimit{Pull: 600, Push: 60, Bandwidth: 10 << 20}, Weight: 3}); !reflect.DeepEqual(acme, want) {
		t.Errorf("acme: %+v\nwant %+v", acme, want)
	}
	// The jar and the directory's state document.
	if acme.StorageBytes <= int64(len(jar)) || acme.Objects < 2 {
		t.Errorf("acme holds %d bytes in %d objects; the jar alone is %d", acme.StorageBytes, acme.Objects, len(jar))
	}
	for _, other := range ts[1:] {
		if other.StorageBytes != 0 || other.Objects != 0 || other.StorageQuota != 0 || other.Subjects == nil {
			t.Errorf("%s: %+v", other.Name, other)
		}
	}

	u, err := cl.TenantUsage(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if u != (tenant.Usage{Tenant: "acme", Bytes: acme.StorageBytes, Objects: acme.Objects, Quota: 1 << 20}) {
		t.Errorf("usage %+v, the list says %+v", u, acme)
	}
	if u, err := cl.TenantUsage(ctx, "default"); err != nil || u.Tenant != "default" || u.Bytes != 0 {
		t.Errorf("default usage %+v, %v", u, err)
	}

	var ae *Error
	if _, err := cl.TenantUsage(ctx, "nobody"); !errors.As(err, &ae) || ae.Status != 404 || ae.Message != `no tenant "nobody"` {
		t.Errorf("an unknown tenant: %v", err)
	}
}

// Only GET and HEAD; a path that is no tenant resource is 404.
func TestTenantsAPIMethods(t *testing.T) {
	cl, _, _ := serveTenants(t)
	f := func(method, path string, status int, allow string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://nora"+prefix+path, nil)
		resp, err := cl.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get("Allow") != allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", method, path, resp.StatusCode, resp.Header.Get("Allow"), status, allow)
		}
	}
	f("GET", "tenants", 200, "")
	f("HEAD", "tenants/acme/usage", 200, "")
	f("POST", "tenants", 405, "GET, HEAD")
	f("DELETE", "tenants/acme/usage", 405, "GET, HEAD")
	f("GET", "tenants/acme", 404, "")
	f("GET", "tenants//usage", 404, "")
	f("GET", "tenants/acme/usage/x", 404, "")
}

// Without a Set the resource does not exist.
func TestTenantsAPIAbsent(t *testing.T) {
	s := startServer(t, Options{Socket: shortSocket(t)})
	var ae *Error
	if _, err := NewClient(s.Socket()).Tenants(context.Background()); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("tenants without a set: %v", err)
	}
}
