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
