package docker_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// revalidationBurst has conns clients GET tag 1 of library/burst, whose
// ttl is 0 (every GET revalidates), for about d, through a nora whose
// upstream takes rtt to answer a HEAD. It returns the GETs answered, the
// upstream HEADs and the time it took.
func revalidationBurst(t testing.TB, conns int, rtt, d time.Duration) (gets, heads int, took time.Duration) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "library/burst", "1", 1, 1024)
	up.SetHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead {
			time.Sleep(rtt) // the round trip of a distant registry
		}
		return false
	})
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	url := n.URL + "/v2/burst/manifests/1"
	if _, err := proxytest.Get(http.DefaultClient, url, "Accept", ociAccept); err != nil {
		t.Fatal(err)
	}
	up.ResetCounters()
	var answered atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		get := fastGetter(url)
		wg.Go(func() {
			for time.Since(start) < d {
				if err := get(); err != nil {
					t.Error(err)
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	return int(answered.Load()), up.ManifestHeads("library/burst", "1"), time.Since(start)
}

// TestRevalidationBurstSharesHEADs: 64 clients on one tag with ttl 0 while
// a HEAD takes 20 ms cost at most one upstream HEAD per round trip: every
// GET that arrives while a revalidation is in flight shares it.
func TestRevalidationBurstSharesHEADs(t *testing.T) {
	const rtt = 20 * time.Millisecond
	gets, heads, took := revalidationBurst(t, 64, rtt, time.Second)
	if limit := int(took/rtt) + 1; heads > limit || heads == 0 {
		t.Fatalf("%d upstream HEADs for %d GETs in %v: want 1 to %d (one per %v)", heads, gets, took, limit, rtt)
	}
	if gets < 2*heads {
		t.Fatalf("%d GETs shared %d upstream HEADs: want each HEAD shared", gets, heads)
	}
	t.Logf("%d GETs, %d upstream HEADs in %v (rtt %v)", gets, heads, took, rtt)
}

// BenchmarkRevalidationBurst reports the upstream HEADs per second and per
// round trip (at most 1 when revalidations are shared) and the GETs per
// second 64 clients get on one tag with ttl 0, HEADs taking 20 ms.
func BenchmarkRevalidationBurst(b *testing.B) {
	const rtt = 20 * time.Millisecond
	gets, heads, took := revalidationBurst(b, 64, rtt, time.Duration(b.N)*100*time.Millisecond)
	b.ReportMetric(float64(heads)/took.Seconds(), "upstream-HEAD/s")
	b.ReportMetric(float64(heads)/(float64(took)/float64(rtt)), "HEADs/rtt")
	b.ReportMetric(float64(gets)/took.Seconds(), "GET/s")
}
