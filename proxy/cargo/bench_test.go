package cargo_test

import (
	"crypto/rand"
	"crypto/sha256"
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

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
)

// Figures stand next to a baseline measured in the same run: the warm
// .crate GET is compared with net/http serving the same file (sendfile).

func benchNora(b *testing.B, up *cargotest.Registry, ttl time.Duration) *noraUnderTest {
	cfg := cargo.DefaultConfig()
	cfg.Index = up.IndexURL
	cfg.TTL = cache.Duration(ttl)
	return startNora(b, cfg)
}

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

func randomBytes(b *testing.B, n int) []byte {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		b.Fatal(err)
	}
	return buf
}

// getAll GETs url total times over conns clients; it returns each GET's
// latency.
func getAll(b *testing.B, c *http.Client, url string, conns, total int) []time.Duration {
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
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
				el := time.Since(start)
				mu.Lock()
				lat = append(lat, el)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat
}

func BenchmarkWarmIndexGET64(b *testing.B) {
	up := cargotest.New(b, cargotest.Options{})
	for i := range 200 { // an index file of a busy crate, about 40 KiB
		up.Publish("serde", fmt.Sprintf("1.0.%d", i), []byte(fmt.Sprint(i)), cargotest.Dep{Name: "serde_derive", Req: "^1"})
	}
	n := benchNora(b, up, time.Hour)
	url := "http://" + n.addr + "/cargo/index/se/rd/serde"
	c := benchClient(64)
	getAll(b, c, url, 1, 1)
	b.ResetTimer()
	lat := getAll(b, c, url, 64, b.N)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

func BenchmarkWarmCrateGET(b *testing.B) {
	const size = 16 << 20
	up := cargotest.New(b, cargotest.Options{})
	body := randomBytes(b, size)
	up.Publish("big", "1.0.0", body)
	n := benchNora(b, up, time.Hour)
	noraURL := "http://" + n.addr + "/cargo/api/v1/crates/big/1.0.0/download"
	getAll(b, benchClient(1), noraURL, 1, 1)
	sum := sha256.Sum256(body)
	file := filepath.Join(n.dataDir, "objects", filepath.FromSlash(cache.BlobKey(digest.NewDigestFromBytes(digest.SHA256, sum[:]))))
	baseURL := sendfileBaseline(b, file)
	for _, conns := range []int{1, 16} {
		for _, target := range []struct{ name, url string }{{"sendfile", baseURL}, {"nora", noraURL}} {
			b.Run(fmt.Sprintf("%s/clients=%d", target.name, conns), func(b *testing.B) {
				c := benchClient(conns)
				b.SetBytes(size)
				b.ResetTimer()
				getAll(b, c, target.url, conns, b.N)
			})
		}
	}
}

// sendfileBaseline serves one file with net/http (sendfile on Linux).
func sendfileBaseline(b *testing.B, path string) string {
	if _, err := os.Stat(path); err != nil {
		b.Fatal(err)
	}
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
	return "http://" + ln.Addr().String() + "/crate"
}

// BenchmarkColdCrateGET16 has 16 clients ask at once for a .crate nora
// never saw: the upstream must see one download (upstream-gets/op 1).
func BenchmarkColdCrateGET16(b *testing.B) {
	const size = 4 << 20
	up := cargotest.New(b, cargotest.Options{})
	n := benchNora(b, up, 0)
	var gets int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		vers := fmt.Sprintf("0.0.%d", i)
		up.Publish("cold", vers, randomBytes(b, size))
		url := "http://" + n.addr + "/cargo/api/v1/crates/cold/" + vers + "/download"
		b.StartTimer()
		getAll(b, benchClient(16), url, 16, 16)
		b.StopTimer()
		gets += up.CrateGets("cold", vers)
	}
	b.ReportMetric(float64(gets)/float64(b.N), "upstream-gets/op")
	b.SetBytes(size * 16)
}
