package pull_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"nora/auth/tenant"
	"nora/cache"
	"nora/proxy/pull"
)

// TestArtifactThrottled: the upstream body of a fill started for a tenant
// with a bandwidth is read within it, the wait bounded by the fill's own
// context: at 10 B/s, past the first 64 KiB burst any chunk would outlast
// the context's deadline, and the read fails at once (no timing
// involved). Without a tenant, or with one without a bandwidth, the body
// reads whole.
func TestArtifactThrottled(t *testing.T) {
	e := newEnv(t)
	e.o.set("/files/big.tgz", strings.Repeat("b", 256<<10))
	set, err := tenant.New(tenant.Options{Tenants: []tenant.Config{
		{Name: "slow", Prefixes: []string{"npm:slow/*"}, RateLimit: tenant.RateLimit{Bandwidth: 10}},
		{Name: "fast", Prefixes: []string{"npm:fast/*"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	read := func(tn *tenant.Tenant) (int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		body, _, err := pull.Artifacts{}.Source(pull.ArtifactRequest{Name: "refs/test/big", Upstream: e.reg, URL: "/files/big.tgz",
			Expect: cache.Expect{Size: -1}, Tenant: tn})(ctx)
		if err != nil {
			return 0, err
		}
		defer body.Close()
		return io.Copy(io.Discard, body)
	}
	for _, tn := range []*tenant.Tenant{nil, set.Lookup("fast")} {
		if n, err := read(tn); err != nil || n != 256<<10 {
			t.Fatalf("unthrottled (%v): %d bytes, %v", tn, n, err)
		}
	}
	n, err := read(set.Lookup("slow"))
	if err == nil || !strings.Contains(err.Error(), "deadline") || n > 64<<10 {
		t.Fatalf("throttled to 10 B/s: %d bytes, %v", n, err)
	}
}
