package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// Benchmarks report figures against a baseline measured in the same run:
// the warm blob GET is compared with net/http serving the same file (which
// goes out by sendfile).

const benchBlobSize = 64 << 20

func BenchmarkWarmBlobGET(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL})
	d, _ := up.PushBlobOfSize(b, "library/bench", benchBlobSize)
	noraURL := "http://" + n.Addr + "/v2/bench/blobs/" + d.String()
	if _, err := proxytest.Get(http.DefaultClient, noraURL); err != nil {
		b.Fatal(err)
	}
	proxytest.WarmVsSendfile(b, noraURL, filepath.Join(n.DataDir, "objects", filepath.FromSlash(cache.BlobKey(d))), benchBlobSize)
}

func BenchmarkWarmManifestGET64(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL, TTL: cache.Duration(time.Hour)})
	img := up.PushRandomImage(b, "library/m", "1", 1, 1024)
	d, _ := img.Digest()
	url := "http://" + n.Addr + "/v2/m/manifests/" + d.String()
	raw, _ := img.RawManifest()
	// The floor of this machine and client: net/http answering the same
	// bytes from memory, measured the same way in the same run.
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Write(raw)
	}))
	b.Cleanup(base.Close)
	b.Run("memory-baseline", func(b *testing.B) { proxytest.LatencyBench(b, base.URL, 64) })
	b.Run("nora", func(b *testing.B) { proxytest.LatencyBench(b, url, 64) })
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
		url := "http://" + n.Addr + "/v2/cold" + fmt.Sprint(i) + "/blobs/" + d.String()
		b.StartTimer()
		ttfbSpread := proxytest.ColdFanOut(b, url, 16)
		b.StopTimer()
		ratio += float64(up.BlobBytes(d)-before) / size
		spread += float64(ttfbSpread) / float64(time.Millisecond)
	}
	b.ReportMetric(ratio/float64(b.N), "upstream-bytes/blob")
	b.ReportMetric(spread/float64(b.N), "ttfb-spread-ms")
	b.SetBytes(size * 16)
}
