package tenant

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"nora/auth"
)

func TestMetrics(t *testing.T) {
	set := metrics.NewSet()
	s := mustNew(t, Options{Metrics: set, Now: newClock().Now, Tenants: []Config{
		{Name: "team-a", Prefixes: []string{"a/**"}, StorageQuota: 100, RateLimit: RateLimit{Push: 1}},
	}})
	src := newMemSource()
	src.put("a/x", "k", 70)
	s.AddSource("docker", src)
	id := &auth.Identity{Name: "ci", Subjects: []string{"ci"}}
	s.Admit(id, netip.Addr{}, auth.Push, "docker", "a/x")
	s.Admit(id, netip.Addr{}, auth.Push, "docker", "a/x")
	s.Admit(nil, netip.Addr{}, auth.Pull, "docker", "library/alpine")
	s.Reserve(t.Context(), "docker", "a/x", 0, 31)
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`nora_tenant_requests_total{tenant="team-a",action="push",result="ok"} 1`,
		`nora_tenant_requests_total{tenant="team-a",action="push",result="rate_limited"} 1`,
		`nora_tenant_requests_total{tenant="team-a",action="push",result="over_quota"} 1`,
		`nora_tenant_requests_total{tenant="default",action="pull",result="ok"} 1`,
		`nora_tenant_requests_total{tenant="default",action="delete",result="ok"} 0`,
		`nora_tenant_rate_limited_total{tenant="team-a"} 1`,
		`nora_tenant_rate_limited_total{tenant="default"} 0`,
		`nora_tenant_storage_bytes{tenant="team-a"} 70`,
		`nora_tenant_storage_bytes{tenant="default"} 0`,
		`nora_tenant_storage_quota_bytes{tenant="team-a"} 100`,
		`nora_tenant_storage_quota_bytes{tenant="default"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	// A Set made again on the same metrics (a reload) takes the gauges.
	mustNew(t, Options{Metrics: set, Tenants: []Config{{Name: "team-a", StorageQuota: 5}}})
	buf.Reset()
	set.WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `nora_tenant_storage_quota_bytes{tenant="team-a"} 5`+"\n") {
		t.Errorf("the gauges of the first Set stay:\n%s", buf.String())
	}
}

// TestGaugeRecountThrottled: a scrape counts a tenant's usage again only
// when its last count is out of date and older than gaugeRecount, so a
// stream of pushes does not cost a count of every holding per scrape.
func TestGaugeRecountThrottled(t *testing.T) {
	set := metrics.NewSet()
	clock := newClock()
	s := mustNew(t, Options{Metrics: set, Now: clock.Now, Tenants: []Config{{Name: "team-a", Prefixes: []string{"a/**"}}}})
	src := newMemSource()
	src.put("a/x", "k1", 70)
	s.AddSource("docker", src)
	scrape := func() string {
		var buf bytes.Buffer
		set.WritePrometheus(&buf)
		return buf.String()
	}
	if out := scrape(); !strings.Contains(out, `nora_tenant_storage_bytes{tenant="team-a"} 70`+"\n") {
		t.Fatalf("first scrape:\n%s", out)
	}
	calls := src.callCount()
	src.put("a/y", "k2", 30)
	s.Changed("docker", "a/y")
	clock.Add(gaugeRecount / 2)
	if out := scrape(); !strings.Contains(out, `nora_tenant_storage_bytes{tenant="team-a"} 70`+"\n") || src.callCount() != calls {
		t.Fatalf("a scrape within %v counted again (%d counts):\n%s", gaugeRecount, src.callCount()-calls, out)
	}
	clock.Add(gaugeRecount)
	if out := scrape(); !strings.Contains(out, `nora_tenant_storage_bytes{tenant="team-a"} 100`+"\n") {
		t.Fatalf("a scrape after %v did not count again:\n%s", gaugeRecount, out)
	}
}
