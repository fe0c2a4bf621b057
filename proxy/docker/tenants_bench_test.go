package docker_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

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
// (tenant lookup and the pull limiter on every request), in turns of 640
// GETs each so that a busy machine slows both alike. It reports each
// one's ns per GET and the tenants' rate as a fraction of the other's
// (tenants/none; issue 15 wants at least 0.95).
func BenchmarkTenantsWarmManifestGET(b *testing.B) {
	const conns, turn = 64, 640
	up := upstreamtest.New(b, upstreamtest.Options{})
	img := up.PushRandomImage(b, "library/bench", "1", 1, 1024)
	d, _ := img.Digest()
	upstreams := []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	var urls [2]string
	var clients [2]*http.Client
	for i, ts := range [][]tenant.Config{nil, benchTenants()} {
		urls[i] = startNora(b, options{upstreams: upstreams, tenants: ts}).URL + "/v2/bench/manifests/" + d.String()
		clients[i] = proxytest.BenchClient(conns)
		if _, err := proxytest.Get(clients[i], urls[i]); err != nil {
			b.Fatal(err)
		}
	}
	var spent [2]time.Duration
	gets := 0
	b.ResetTimer()
	for gets < b.N {
		for i := range urls {
			start := time.Now()
			proxytest.FetchParallel(b, clients[i], urls[i], conns, turn)
			spent[i] += time.Since(start)
		}
		gets += turn
	}
	b.StopTimer()
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(gets), "none-ns/GET")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(gets), "tenants-ns/GET")
	b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "tenants/none")
}

// BenchmarkTenantBandwidthColdFill pulls a new 8 MiB blob per iteration
// through a nora whose tenant may fill at 4 MB/s, and reports the fill's
// rate as a fraction of that bandwidth (fill/bandwidth). It is over 1 by
// the limiter's burst, a second's worth of bytes that builds up again
// while the next blob is pushed upstream; unthrottled it is some 30.
func BenchmarkTenantBandwidthColdFill(b *testing.B) {
	const size, bandwidth = 8 << 20, 4_000_000
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, options{
		upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		tenants: []tenant.Config{{Name: "team-a", Prefixes: []string{"team-a/**"},
			RateLimit: tenant.RateLimit{Bandwidth: units.Size(bandwidth)}}},
	})
	c := proxytest.BenchClient(1)
	var spent time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		d, _ := up.PushBlobOfSize(b, fmt.Sprintf("team-a/fill%d", i), size)
		url := fmt.Sprintf("%s/v2/team-a/fill%d/blobs/%s", n.URL, i, d)
		i++
		b.StartTimer()
		start := time.Now()
		if got, err := proxytest.Get(c, url); err != nil || got != size {
			b.Fatalf("cold GET: %d bytes, %v", got, err)
		}
		spent += time.Since(start)
	}
	b.SetBytes(size)
	b.ReportMetric(float64(i)*size/spent.Seconds()/bandwidth, "fill/bandwidth")
}
