package proxy

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// BenchmarkRequestMetrics is what finish counts for a warm GET: the request,
// its duration and bytes, its cache result and the bytes served by that
// result. It must not allocate once the series exist.
func BenchmarkRequestMetrics(b *testing.B) {
	fm := newServerMetrics(metrics.NewSet()).format("docker")
	hit := cacheResultIndex("hit")
	fm.observe(0, 1, time.Millisecond, 1024)
	fm.cacheResult(hit, 1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fm.observe(0, 1, time.Millisecond, 1024)
			fm.cacheResult(hit, 1024)
		}
	})
	if allocs := testing.AllocsPerRun(100, func() { fm.cacheResult(hit, 1024) }); allocs != 0 {
		b.Fatalf("%v allocations per counted cache result", allocs)
	}
}
