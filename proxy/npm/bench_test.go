package npm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
)

// The benchmarks use the Go registry as upstream: they measure nora, not
// node. Sized for a 2-core box at -benchtime 1x..20x.

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

func fetch(c *http.Client, url string, hdr ...string) (int64, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}

// BenchmarkPackumentWarm: one op is 64 connections each sending 32 GETs of
// a cached abbreviated packument (40 versions, rewritten per request).
func BenchmarkPackumentWarm(b *testing.B) {
	const conns, perConn = 64, 32
	up := npmtest.NewRegistry(b)
	for i := range 40 {
		up.Publish(b, "@bench/pkg", fmt.Sprintf("1.%d.0", i), 16)
	}
	n := startNora(b, npm.Config{Upstream: up.URL, TTL: cache.Duration(time.Hour)})
	url := n.url + "/npm/@bench%2fpkg"
	c := benchClient(conns)
	if _, err := fetch(c, url, "Accept", abbreviated); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				mine := make([]time.Duration, 0, perConn)
				for range perConn {
					start := time.Now()
					if _, err := fetch(c, url, "Accept", abbreviated); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no samples")
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
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
	n := startNora(b, npm.Config{Upstream: up.URL, TTL: cache.Duration(time.Hour)})
	url := n.url + "/npm/big/-/big-1.0.0.tgz"
	c := benchClient(1)
	length, err := fetch(c, url)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(npmtest.Tarball(b, "big", "1.0.0", size))
	hexSum := hex.EncodeToString(sum[:])
	stored := filepath.Join(n.dataDir, "objects", filepath.FromSlash(cache.BlobKey(digest.Digest("sha256:"+hexSum))))
	if _, err := os.Stat(stored); err != nil {
		b.Fatalf("stored tarball: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(stored)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, f)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	for _, bm := range []struct{ name, url string }{{"nora", url}, {"sendfile-baseline", "http://" + ln.Addr().String() + "/"}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(length)
			for range b.N {
				if got, err := fetch(c, bm.url); err != nil || got != length {
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
	n := startNora(b, npm.Config{Upstream: up.URL, TTL: cache.Duration(time.Hour)})
	c := benchClient(clients)
	var upstreamGets int
	for i := range b.N {
		b.StopTimer()
		name := fmt.Sprintf("cold-%d", i)
		path := up.Publish(b, name, "1.0.0", size)
		b.StartTimer()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				if got, err := fetch(c, n.url+"/npm/"+name+"/-/"+name+"-1.0.0.tgz"); err != nil || got < size {
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
