package npm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// The benchmarks use the Go registry as upstream: they measure nora, not
// node. Sized for a 2-core box at -benchtime 1x..20x.

// BenchmarkPackumentWarm: one op is 64 connections each sending 32 GETs of
// a cached abbreviated packument (40 versions, rewritten per request).
func BenchmarkPackumentWarm(b *testing.B) {
	packumentWarm(b, nil)
}

// BenchmarkPackumentWarmTenants is BenchmarkPackumentWarm with and without
// [[tenants]]: with them, each GET finds the tenant of @bench/pkg by its
// prefix and spends its pull limit (large enough never to refuse).
func BenchmarkPackumentWarmTenants(b *testing.B) {
	for _, bm := range []struct {
		name    string
		tenants []tenant.Config
	}{
		{"off", nil},
		{"on", []tenant.Config{
			{Name: "other", Prefixes: []string{"npm:@other/*", "docker:other/**"}},
			{Name: "bench", Prefixes: []string{"npm:@bench/*"}, RateLimit: tenant.RateLimit{Pull: 1 << 30}},
		}},
	} {
		b.Run(bm.name, func(b *testing.B) { packumentWarm(b, bm.tenants) })
	}
}

func packumentWarm(b *testing.B, tenants []tenant.Config) {
	const conns, perConn = 64, 32
	up := npmtest.NewRegistry(b)
	for i := range 40 {
		up.Publish(b, "@bench/pkg", fmt.Sprintf("1.%d.0", i), 16)
	}
	n := proxytest.Start(b, proxy.AppConfig{Npm: npm.Config{Upstream: up.URL, TTL: units.Duration(time.Hour)}, Tenants: tenants})
	url := n.URL + "/npm/@bench%2fpkg"
	c := proxytest.BenchClient(conns)
	if _, err := proxytest.Get(c, url, "Accept", abbreviated); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	lat := proxytest.FetchParallel(b, c, url, conns, b.N*conns*perConn, "Accept", abbreviated)
	b.StopTimer()
	proxytest.ReportLatency(b, lat)
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
	if got := up.Hits("/@bench/pkg"); got != 1 {
		b.Fatalf("a fresh packument was fetched %d times upstream", got)
	}
}

// BenchmarkTarballWarm: GETs of a cached 8 MiB tarball through nora, next
// to net/http's http.ServeContent of the same stored file (sendfile).
func BenchmarkTarballWarm(b *testing.B) {
	const size = 8 << 20
	up := npmtest.NewRegistry(b)
	up.Publish(b, "big", "1.0.0", size)
	n := startNora(b, npm.Config{Upstream: up.URL, TTL: units.Duration(time.Hour)})
	url := n.URL + "/npm/big/-/big-1.0.0.tgz"
	c := proxytest.BenchClient(1)
	length, err := proxytest.Get(c, url)
	if err != nil {
		b.Fatal(err)
	}
	n.WaitLater() // the fill's commit, behind its reply
	sum := sha256.Sum256(npmtest.Tarball(b, "big", "1.0.0", size))
	hexSum := hex.EncodeToString(sum[:])
	stored := filepath.Join(n.DataDir, "objects", filepath.FromSlash(cache.BlobKey(digest.Digest("sha256:"+hexSum))))
	if _, err := os.Stat(stored); err != nil {
		b.Fatalf("stored tarball: %v", err)
	}
	baseline := proxytest.SendfileBaseline(b, stored)
	for _, bm := range []struct{ name, url string }{{"nora", url}, {"sendfile-baseline", baseline}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(length)
			for range b.N {
				if got, err := proxytest.Get(c, bm.url); err != nil || got != length {
					b.Fatalf("%d bytes, %v", got, err)
				}
			}
		})
	}
}

// BenchmarkColdConcurrent: 16 clients ask at once for a tarball nobody has
// asked for (a new package each op); upstream-req/op counts the upstream
// fetches of that tarball (target 1).
func BenchmarkColdConcurrent(b *testing.B) {
	const clients, size = 16, 4 << 20
	up := npmtest.NewRegistry(b)
	n := startNora(b, npm.Config{Upstream: up.URL, TTL: units.Duration(time.Hour)})
	c := proxytest.BenchClient(clients)
	var upstreamGets int
	for i := range b.N {
		b.StopTimer()
		name := fmt.Sprintf("cold-%d", i)
		path := up.Publish(b, name, "1.0.0", size)
		b.StartTimer()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				if got, err := proxytest.Get(c, n.URL+"/npm/"+name+"/-/"+name+"-1.0.0.tgz"); err != nil || got < size {
					b.Errorf("%d bytes, %v", got, err)
				}
			})
		}
		wg.Wait()
		upstreamGets += up.Hits(path)
	}
	b.SetBytes(clients * size)
	b.ReportMetric(float64(upstreamGets)/float64(b.N), "upstream-req/op")
}
