package tenant

import (
	"net/netip"
	"testing"

	"nora/auth"
)

// benchTenants are five tenants with prefixes and limits no benchmark
// reaches.
func benchTenants() []Config {
	const many = 1 << 30
	rl := RateLimit{Pull: many, Push: many}
	return []Config{
		{Name: "team-a", Prefixes: []string{"team-a/**", "npm:@team-a/*"}, RateLimit: rl},
		{Name: "team-b", Prefixes: []string{"team-b/**", "npm:@team-b/*"}, RateLimit: rl},
		{Name: "backend", Prefixes: []string{"backend/**", "pypi:backend-*"}, RateLimit: rl, Subjects: []string{"ci"}},
		{Name: "frontend", Prefixes: []string{"frontend/**", "npm:@frontend/*"}, RateLimit: rl},
		{Name: "ops", Prefixes: []string{"ops/**", "maven:com/example/ops/**"}, RateLimit: rl},
	}
}

func benchAdmit(b *testing.B, o Options) {
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	id := &auth.Identity{Name: "alice", Subjects: []string{"alice", "developers"}}
	addr := netip.MustParseAddr("192.0.2.7")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Admit(id, addr, auth.Pull, "docker", "frontend/app"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdmit is the tenant lookup and limiter of a warm manifest
// request (target < 1 µs/op).
func BenchmarkAdmit(b *testing.B) { benchAdmit(b, Options{Tenants: benchTenants()}) }

// BenchmarkAdmitNoTenants is the same with only the default tenant.
func BenchmarkAdmitNoTenants(b *testing.B) { benchAdmit(b, Options{}) }

// BenchmarkAdmitAnonymous is an anonymous pull of a proxied name: the
// prefixes miss, the per-address limiter counts.
func BenchmarkAdmitAnonymous(b *testing.B) {
	s, err := New(Options{Tenants: benchTenants(), AnonymousPerMinute: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddr("2001:db8::7")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Admit(nil, addr, auth.Pull, "docker", "library/alpine"); err != nil {
			b.Fatal(err)
		}
	}
}
