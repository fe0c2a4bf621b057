package pypi_test

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
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy/pypi/pypitest"
)

// benchClient keeps up to conns keep-alive connections to one host.
func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

func drainGet(c *http.Client, url string, hdr ...string) (int64, error) {
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
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return n, err
}

// BenchmarkPageWarm measures a cached project page (fresh within the TTL)
// as pip asks for it, from 64 connections at once.
func BenchmarkPageWarm(b *testing.B) {
	up := demoUpstream(b, pypitest.Options{})
	n := startNora(b, pypiConfig(up))
	url := n.url + "/simple/demo-pkg/"
	const conns = 64
	c := benchClient(conns)
	if _, err := drainGet(c, url, "Accept", acceptPip); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				start := time.Now()
				if _, err := drainGet(c, url, "Accept", acceptPip); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	if got := up.PageGets("demo-pkg"); got != 1 {
		b.Fatalf("upstream page fetched %d times", got)
	}
}

// BenchmarkFileWarm compares a cached wheel served by nora with net/http's
// http.ServeContent (sendfile) of the same file on disk.
func BenchmarkFileWarm(b *testing.B) {
	const size = 8 << 20
	data := randomBytes(size, 9)
	up := pypitest.New(b, pypitest.Options{})
	up.Add("big", pypitest.File{Name: "big-1.0-py3-none-any.whl", Data: data})
	n := startNora(b, pypiConfig(up))
	url := n.url + "/simple/big/big-1.0-py3-none-any.whl"
	c := benchClient(4)
	if _, err := drainGet(c, url); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	hx := hex.EncodeToString(sum[:])
	path := filepath.Join(n.dataDir, "objects", "blobs", "sha256", hx[:2], hx)
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("cached object not where expected: %v", err)
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
		http.ServeContent(w, r, "", time.Time{}, f)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	baseline := "http://" + ln.Addr().String() + "/"

	for _, bc := range []struct{ name, url string }{{"nora", url}, {"sendfile-baseline", baseline}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if n, err := drainGet(c, bc.url); err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
	if got := up.Gets("big-1.0-py3-none-any.whl"); got != 1 {
		b.Fatalf("upstream fetched the wheel %d times", got)
	}
}

// BenchmarkColdFile16 starts 16 concurrent GETs of one wheel nobody asked
// for before (page cached): nora must fetch it upstream once.
func BenchmarkColdFile16(b *testing.B) {
	const size = 1 << 20
	up := pypitest.New(b, pypitest.Options{})
	names := make([]string, b.N)
	for i := range names {
		names[i] = fmt.Sprintf("cold-1.%d-py3-none-any.whl", i)
		up.Add("cold", pypitest.File{Name: names[i], Data: randomBytes(size, uint64(i))})
	}
	n := startNora(b, pypiConfig(up))
	c := benchClient(16)
	if _, err := drainGet(c, n.url+"/simple/cold/"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				if got, err := drainGet(c, n.url+"/simple/cold/"+names[i]); err != nil || got != size {
					errs <- fmt.Errorf("%d bytes, %v", got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	total := 0
	for _, name := range names {
		total += up.Gets(name)
	}
	b.ReportMetric(float64(total)/float64(b.N), "upstream-requests/op")
	if total != b.N {
		b.Fatalf("%d upstream requests for %d cold files", total, b.N)
	}
}
