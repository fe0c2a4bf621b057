package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

// Benchmarks report figures against a baseline measured in the same run:
// the warm blob GET is compared with net/http serving the same file (which
// goes out by sendfile).

const benchBlobSize = 64 << 20

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

// fetchParallel GETs url total times over conns clients and returns bytes read.
func fetchParallel(b *testing.B, c *http.Client, url string, conns, total int) int64 {
	var next atomic.Int64
	var bytes atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("GET: %v %d", err, resp.StatusCode)
					return
				}
				bytes.Add(n)
			}
		}()
	}
	wg.Wait()
	return bytes.Load()
}

func BenchmarkWarmBlobGET(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL})
	d, _ := up.PushBlobOfSize(b, "library/bench", benchBlobSize)
	noraURL := "http://" + n.addr + "/v2/bench/blobs/" + d.String()
	resp, err := http.Get(noraURL)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	file := filepath.Join(n.dataDir, "objects", filepath.FromSlash(cache.BlobKey(d)))
	baseURL := sendfileBaseline(b, file)

	for _, conns := range []int{1, 16} {
		for _, target := range []struct{ name, url string }{{"sendfile", baseURL}, {"nora", noraURL}} {
			b.Run(fmt.Sprintf("%s/clients=%d", target.name, conns), func(b *testing.B) {
				c := benchClient(conns)
				b.SetBytes(benchBlobSize)
				b.ResetTimer()
				fetchParallel(b, c, target.url, conns, b.N)
			})
		}
	}
}

// sendfileBaseline serves one file with net/http (sendfile on Linux).
func sendfileBaseline(b *testing.B, path string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/blob"
}

func BenchmarkWarmManifestGET64(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL, TTL: cache.Duration(time.Hour)})
	img := up.PushRandomImage(b, "library/m", "1", 1, 1024)
	d, _ := img.Digest()
	url := "http://" + n.addr + "/v2/m/manifests/" + d.String()
	c := benchClient(64)
	fetchParallel(b, c, url, 1, 1)
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				el := time.Since(start)
				mu.Lock()
				lat = append(lat, el)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkColdFanOut16 measures 16 clients asking for one uncached blob at
// once: upstream bytes per blob size (target 1.00) and the spread of their
// times to first byte.
func BenchmarkColdFanOut16(b *testing.B) {
	const size = 64 << 20
	up := upstreamtest.New(b, upstreamtest.Options{})
	var ratio, spread float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL})
		d, _ := up.PushBlobOfSize(b, fmt.Sprintf("library/cold%d", i), size)
		before := up.BlobBytes(d)
		url := "http://" + n.addr + "/v2/cold" + fmt.Sprint(i) + "/blobs/" + d.String()
		b.StartTimer()
		ttfb := coldFanOut(b, url, 16)
		b.StopTimer()
		ratio += float64(up.BlobBytes(d)-before) / size
		spread += float64(slices.Max(ttfb)-slices.Min(ttfb)) / float64(time.Millisecond)
	}
	b.ReportMetric(ratio/float64(b.N), "upstream-bytes/blob")
	b.ReportMetric(spread/float64(b.N), "ttfb-spread-ms")
	b.SetBytes(size * 16)
}

func coldFanOut(b *testing.B, url string, clients int) []time.Duration {
	c := benchClient(clients)
	ttfb := make([]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			one := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, one); err != nil {
				b.Error(err)
				return
			}
			ttfb[i] = time.Since(start)
			io.Copy(io.Discard, resp.Body)
		}()
	}
	wg.Wait()
	return ttfb
}
