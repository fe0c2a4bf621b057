package maven_test

import (
	"crypto/rand"
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
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
)

// Benchmarks report figures against a baseline measured in the same run:
// the warm artifact GET is compared with net/http serving the same file
// (which goes out by sendfile).

const benchArtifactSize = 32 << 20

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

// getParallel GETs url total times over conns clients; each latency goes
// to lat if it is not nil.
func getParallel(b *testing.B, c *http.Client, url string, conns, total int, lat *[]time.Duration) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				start := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("GET %s: %v %d", url, err, resp.StatusCode)
					return
				}
				if lat != nil {
					el := time.Since(start)
					mu.Lock()
					*lat = append(*lat, el)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkWarmMetadataGET64(b *testing.B) {
	root := b.TempDir()
	maventest.BuildFixtures(b, root)
	up := maventest.New(b, root)
	cfg := maven.DefaultConfig()
	cfg.TTL = cache.Duration(time.Hour)
	n := startNora(b, cfg, up.URL)
	url := n.base() + "org/example/nora/greeting/maven-metadata.xml"
	c := benchClient(64)
	getParallel(b, c, url, 1, 1, nil)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	getParallel(b, c, url, 64, b.N, &lat)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// bigArtifact lays out a release jar of size random bytes and returns its
// repository path.
func bigArtifact(b *testing.B, root, version string, size int) string {
	data := make([]byte, size)
	rand.Read(data)
	path := "org/example/bench/big/" + version + "/big-" + version + ".jar"
	maventest.WriteFile(b, root, path, data)
	maventest.WriteFile(b, root, "org/example/bench/big/"+version+"/big-"+version+".pom", []byte("<project/>"))
	return path
}

func BenchmarkWarmArtifactGET(b *testing.B) {
	root := b.TempDir()
	path := bigArtifact(b, root, "1.0", benchArtifactSize)
	up := maventest.New(b, root)
	n := startNora(b, maven.DefaultConfig(), up.URL)
	noraURL := n.base() + path
	getParallel(b, benchClient(1), noraURL, 1, 1, nil)
	baseURL := sendfileBaseline(b, filepath.Join(root, filepath.FromSlash(path)))

	for _, conns := range []int{1, 16} {
		for _, target := range []struct{ name, url string }{{"sendfile", baseURL}, {"nora", noraURL}} {
			b.Run(fmt.Sprintf("%s/clients=%d", target.name, conns), func(b *testing.B) {
				c := benchClient(conns)
				b.SetBytes(benchArtifactSize)
				b.ResetTimer()
				getParallel(b, c, target.url, conns, b.N, nil)
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
	return "http://" + ln.Addr().String() + "/artifact"
}

// BenchmarkColdFanOut16 has 16 clients ask for one uncached artifact at
// once: upstream GETs of it per round (target 1) and the spread of the
// clients' times to first byte.
func BenchmarkColdFanOut16(b *testing.B) {
	const size = 16 << 20
	root := b.TempDir()
	up := maventest.New(b, root)
	var requests, spread float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := bigArtifact(b, root, fmt.Sprint("cold", i), size)
		n := startNora(b, maven.DefaultConfig(), up.URL)
		b.StartTimer()
		ttfb := coldFanOut(b, n.base()+path, 16)
		b.StopTimer()
		requests += float64(up.Gets(path))
		spread += float64(slices.Max(ttfb)-slices.Min(ttfb)) / float64(time.Millisecond)
	}
	b.ReportMetric(requests/float64(b.N), "upstream-requests")
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
				b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
				return
			}
			ttfb[i] = time.Since(start)
			if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
				b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
			}
		}()
	}
	wg.Wait()
	return ttfb
}
