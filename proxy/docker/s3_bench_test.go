package docker_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/cache/s3/s3test"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The S3 benchmarks put a bucket of versitygw on loopback next to the disk,
// measured in the same run: warm GETs on S3 are reported as a ratio of the
// disk's rate, cold fan-outs by the upstream bytes per blob (target 1.00)
// and the peak memory of the fill.

const s3BenchBlob = 16 << 20

// BenchmarkS3WarmBlobGET GETs one cached blob over 1 and 16 connections
// from a disk store, an S3 store, and an S3 store answering with redirects
// (the client follows them to the bucket). Each S3 line reports its rate
// as a fraction of the disk's (s3/disk).
func BenchmarkS3WarmBlobGET(b *testing.B) {
	srv := s3test.Start(b)
	up := upstreamtest.New(b, upstreamtest.Options{})
	d, _ := up.PushBlobOfSize(b, "library/bench", s3BenchBlob)
	upstreams := []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	path := "/v2/bench/blobs/" + d.String()
	urls := map[string]string{"disk": startNora(b, options{upstreams: upstreams}).URL + path}
	urls["s3"] = startS3(b, srv, up, false).URL + path
	urls["s3-redirect"] = startS3(b, srv, up, true).URL + path
	for _, u := range urls {
		if _, err := proxytest.Get(proxytest.BenchClient(1), u); err != nil {
			b.Fatal(err)
		}
	}
	for _, conns := range []int{1, 16} {
		var diskRate float64
		for _, store := range []string{"disk", "s3", "s3-redirect"} {
			b.Run(fmt.Sprintf("%s/clients=%d", store, conns), func(b *testing.B) {
				c := proxytest.BenchClient(conns)
				b.SetBytes(s3BenchBlob)
				b.ResetTimer()
				proxytest.FetchParallel(b, c, urls[store], conns, b.N)
				b.StopTimer()
				rate := float64(b.N) / b.Elapsed().Seconds()
				if store == "disk" {
					diskRate = rate
				} else if diskRate > 0 {
					b.ReportMetric(rate/diskRate, "s3/disk")
				}
			})
		}
	}
}

// BenchmarkS3ColdFanOut16 has 16 clients ask an S3-backed nora for one
// uncached 32 MiB blob at once, with and without redirect: the upstream
// bytes per blob (target 1.00), how far the RSS of this process rose
// during the fan-out (VmHWM, reset before, less the RSS then; the process
// holds the upstream and the clients too) and the peak growth of the Go
// heap in use.
func BenchmarkS3ColdFanOut16(b *testing.B) {
	const size = 32 << 20
	srv := s3test.Start(b)
	for _, redirect := range []bool{false, true} {
		b.Run(fmt.Sprintf("redirect=%v", redirect), func(b *testing.B) {
			up := upstreamtest.New(b, upstreamtest.Options{})
			var ratio, rss, heap float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				n := startS3(b, srv, up, redirect)
				d, _ := up.PushBlobOfSize(b, fmt.Sprintf("library/cold%d", i), size)
				url := n.URL + fmt.Sprintf("/v2/cold%d/blobs/%s", i, d)
				runtime.GC()
				peak := watchMemory(b)
				b.StartTimer()
				proxytest.ColdFanOut(b, url, 16)
				// The fill is committed before the last byte goes out.
				b.StopTimer()
				rose, grew := peak()
				ratio += float64(up.BlobBytes(d)) / size
				rss, heap = max(rss, rose), max(heap, grew)
			}
			b.ReportMetric(ratio/float64(b.N), "upstream-bytes/blob")
			b.ReportMetric(rss/(1<<20), "rss-growth-MB")
			b.ReportMetric(heap/(1<<20), "peak-heap-growth-MB")
			b.SetBytes(size * 16)
		})
	}
}

// watchMemory resets this process's VmHWM and samples the heap in use
// until the returned function is called; that returns how far VmHWM rose
// above the RSS at the reset and the largest growth of the heap in use.
func watchMemory(b *testing.B) func() (rssGrowth, heapGrowth float64) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("cannot reset VmHWM: %v", err)
	}
	rss := procStatus(b, "VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() (float64, float64) {
		close(stop)
		wg.Wait()
		return float64(max(0, procStatus(b, "VmHWM")-rss)), float64(peak - min(peak, base))
	}
}

// procStatus is a size field of /proc/self/status (VmHWM, VmRSS) in bytes.
func procStatus(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
