package docker_test

import (
	"fmt"
	"testing"

	"nora/auth/tenant"
	"nora/internal/units"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// benchTenants are five tenants with limits too high to refuse anything;
// the benchmark's repository is the last one's, so every lookup tries
// every tenant's prefixes.
func benchTenants() []tenant.Config {
	var ts []tenant.Config
	for i := range 5 {
		prefixes := []string{fmt.Sprintf("team%d/**", i), fmt.Sprintf("docker:site%d-*", i)}
		if i == 4 {
			prefixes = append(prefixes, "bench")
		}
		ts = append(ts, tenant.Config{Name: fmt.Sprintf("team%d", i), Prefixes: prefixes,
			StorageQuota: units.Size(1 << 40), Weight: i + 1,
			RateLimit: tenant.RateLimit{Pull: 1 << 30, Push: 1 << 30}})
	}
	return ts
}

// BenchmarkTenantsWarmManifestGET GETs one cached manifest by digest over
// 64 connections from a nora without [[tenants]] and one with five
// (tenant lookup and the pull limiter on every request), in the same run.
// The tenants line reports its rate as a fraction of the other's
// (tenants/none; issue 15 wants at least 0.95).
func BenchmarkTenantsWarmManifestGET(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	img := up.PushRandomImage(b, "library/bench", "1", 1, 1024)
	d, _ := img.Digest()
	upstreams := []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	urls := map[string]string{}
	for name, ts := range map[string][]tenant.Config{"none": nil, "tenants": benchTenants()} {
		n := startNora(b, options{upstreams: upstreams, tenants: ts})
		urls[name] = n.URL + "/v2/bench/manifests/" + d.String()
	}
	var noneRate float64
	for _, name := range []string{"none", "tenants"} {
		b.Run(name, func(b *testing.B) {
			proxytest.LatencyBench(b, urls[name], 64)
			rate := float64(b.N) / b.Elapsed().Seconds()
			if name == "none" {
				noneRate = rate
			} else if noneRate > 0 {
				b.ReportMetric(rate/noneRate, "tenants/none")
			}
		})
	}
}
