package docker_test

import (
	"testing"

	"nora/auth/tenant"
)

// TestTenantUsageAfterDeleteAndGC: a tenant's usage is its hosted bytes
// exactly: two images pushed, one's manifest deleted with crane, GC run
// through the admin socket, and the usage is the remaining image's.
func TestTenantUsageAfterDeleteAndGC(t *testing.T) {
	n := startNora(t, options{tenants: []tenant.Config{
		{Name: "team-a", Prefixes: []string{"team-a/**"}, StorageQuota: 1 << 30},
	}})
	c := newCLI(t, n.Addr, testUser, testPass)
	one, two := randomImage(t, 24<<10, 2), randomImage(t, 40<<10, 3)
	c.mustCrane("push", imageTarball(t, one), n.Addr+"/team-a/app:one")
	c.mustCrane("push", imageTarball(t, two), n.Addr+"/team-a/app:two")
	if u := n.TenantUsage(t, "team-a"); u.Bytes != holds(t, one)+holds(t, two) {
		t.Fatalf("usage of two images: %d bytes, want %d", u.Bytes, holds(t, one)+holds(t, two))
	}
	// Another tenant's copy of an image does not count for team-a.
	c.mustCrane("push", imageTarball(t, two), n.Addr+"/elsewhere/app:two")

	c.mustCrane("delete", n.Addr+"/team-a/app@"+digestOf(t, two))
	n.runGC(t)
	if u := n.TenantUsage(t, "team-a"); u.Bytes != holds(t, one) {
		t.Fatalf("usage after delete and GC: %d bytes, want %d (the remaining image)", u.Bytes, holds(t, one))
	}
	if u := n.TenantUsage(t, tenant.Default); u.Bytes != holds(t, two) {
		t.Fatalf("the default tenant's usage: %d bytes, want %d", u.Bytes, holds(t, two))
	}
	checkPulls(t, c, n.Addr+"/team-a/app", "one", digestOf(t, one))
}
