package proxy

import (
	"log/slog"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/proxy/stats"
)

// BenchmarkFinishObserved is what a warm manifest GET costs the server at
// its end (metrics, the UI's statistics through the observer; the access
// log is off), without and with the web UI's statistics.
func BenchmarkFinishObserved(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "without"
		if observed {
			name = "with-stats"
		}
		b.Run(name, func(b *testing.B) {
			s := NewServer(testConfig(), slog.New(slog.DiscardHandler), metrics.NewSet())
			if observed {
				st, err := stats.New(stats.Options{})
				if err != nil {
					b.Fatal(err)
				}
				s.SetObserver(st.Observe)
			}
			fm := s.metrics.format("docker")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rec := &accessRecord{start: time.Now(), format: "docker", fm: fm, methodName: "GET",
					path: "/v2/library/app/manifests/1", repository: "library/app", cacheResult: "hit", status: 200}
				for pb.Next() {
					s.metrics.inFlight.Inc()
					s.finish(rec, 1024, nil)
				}
			})
		})
	}
}
