package proxytest

import (
	"context"
	"testing"

	"nora/auth/tenant"
	"nora/proxy/admin"
)

// TenantUsage is tenant name's storage usage, from n's admin API.
func (n *Nora) TenantUsage(t testing.TB, name string) tenant.Usage {
	t.Helper()
	u, err := admin.NewClient(n.AdminSocket).TenantUsage(context.Background(), name)
	if err != nil {
		t.Fatalf("usage of %s: %v", name, err)
	}
	return u
}
