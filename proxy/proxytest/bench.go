package proxytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks report figures next to a baseline measured in the same
// run: a warm GET through nora is compared with net/http serving the same
// file (which goes out by sendfile on Linux).

// BenchClient keeps up to conns keep-alive connections to one host.
func BenchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

// Get GETs url with the header pairs hdr and reads the body to the end; a
// status other than 200 is an error. It returns the bytes read.
func Get(c *http.Client, url string, hdr ...string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
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

// FetchParallel GETs url total times over conns connections of c and
// returns each GET's latency. A failed GET fails b.
func FetchParallel(b testing.TB, c *http.Client, url string, conns, total int, hdr ...string) []time.Duration {
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				start := time.Now()
				if _, err := Get(c, url, hdr...); err != nil {
					b.Error(err)
					return
				}
				el := time.Since(start)
				mu.Lock()
				lat = append(lat, el)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat
}

// ReportLatency reports the median and the 99th percentile of lat as
// p50-µs and p99-µs.
func ReportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		b.Fatal("no samples")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// LatencyBench times b.N GETs of url over conns connections, after one
// untimed GET that fills the cache, and reports their latency.
func LatencyBench(b *testing.B, url string, conns int, hdr ...string) {
	c := BenchClient(conns)
	if _, err := Get(c, url, hdr...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	lat := FetchParallel(b, c, url, conns, b.N, hdr...)
	b.StopTimer()
	ReportLatency(b, lat)
}

// SendfileBaseline serves file with net/http (sendfile on Linux) until b
// ends and returns its URL.
func SendfileBaseline(b testing.TB, file string) string {
	if _, err := os.Stat(file); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// WarmVsSendfile runs the sub-benchmarks sendfile/clients=N and
// nora/clients=N (N of 1 and 16): GETs of noraURL, a cached object of size
// bytes, next to net/http serving its stored file.
func WarmVsSendfile(b *testing.B, noraURL, file string, size int64) {
	baseURL := SendfileBaseline(b, file)
	for _, conns := range []int{1, 16} {
		for _, target := range []struct{ name, url string }{{"sendfile", baseURL}, {"nora", noraURL}} {
			b.Run(fmt.Sprintf("%s/clients=%d", target.name, conns), func(b *testing.B) {
				c := BenchClient(conns)
				b.SetBytes(size)
				b.ResetTimer()
				FetchParallel(b, c, target.url, conns, b.N)
			})
		}
	}
}

// ColdFanOut has clients GET url at once and returns the spread of their
// times to first byte (the last one's less the first one's).
func ColdFanOut(b testing.TB, url string, clients int) time.Duration {
	c := BenchClient(clients)
	ttfb := make([]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			one := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, one); err != nil {
				b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
				return
			}
			ttfb[i] = time.Since(start)
			if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
			}
		})
	}
	wg.Wait()
	return slices.Max(ttfb) - slices.Min(ttfb)
}
