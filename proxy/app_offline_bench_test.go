package proxy_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// BenchmarkExportImport exports a 128 MiB image (warm in the hub's cache)
// to a file and imports it into an empty nora, reporting each one's MB/s
// and how far the Go heap grew above its level before (peak, sampled):
// both stream, so it stays far below the image's size.
func BenchmarkExportImport(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	up.PushRandomImage(b, "library/big", "v1", 4, 32<<20)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	hub := proxytest.Start(b, cfg)
	site := filepath.Join(b.TempDir(), "site.tar")
	exportFile(b, hub, site) // warms the hub
	info, err := os.Stat(site)
	if err != nil {
		b.Fatal(err)
	}
	mb := float64(info.Size()) / (1 << 20)
	var exportS, importS time.Duration
	var peakExport, peakImport uint64
	b.ResetTimer()
	for range b.N {
		var start time.Time
		peakExport = max(peakExport, heapGrowth(func() { start = time.Now(); exportFile(b, hub, site) }))
		exportS += time.Since(start)
		edge := proxytest.Start(b, cfg)
		f, err := os.Open(site)
		if err != nil {
			b.Fatal(err)
		}
		peakImport = max(peakImport, heapGrowth(func() {
			start = time.Now()
			if _, err := admin.NewClient(edge.AdminSocket).Import(context.Background(), f); err != nil {
				b.Fatal(err)
			}
		}))
		importS += time.Since(start)
		f.Close()
	}
	b.ReportMetric(mb*float64(b.N)/exportS.Seconds(), "export-MB/s")
	b.ReportMetric(mb*float64(b.N)/importS.Seconds(), "import-MB/s")
	b.ReportMetric(float64(peakExport)/(1<<20), "export-heap-MB")
	b.ReportMetric(float64(peakImport)/(1<<20), "import-heap-MB")
}

func exportFile(b *testing.B, n *proxytest.Nora, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := admin.NewClient(n.AdminSocket).Export(context.Background(), []byte("big:v1\n"), "", f); err != nil {
		b.Fatal(err)
	}
}

// heapGrowth runs fn and returns the highest heap in use seen meanwhile
// above the level before it (sampled every millisecond).
func heapGrowth(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
				peak.Store(m.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}
