package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
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
	n.WaitLater() // the fill's commit, behind its reply
	proxytest.WarmVsSendfile(b, noraURL, filepath.Join(n.DataDir, "objects", filepath.FromSlash(cache.BlobKey(d))), benchBlobSize)
}

func BenchmarkWarmManifestGET64(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	n := startNora(b, docker.UpstreamConfig{Name: "docker.io", URL: up.URL, TTL: units.Duration(time.Hour)})
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

// BenchmarkWarmBlobGETAtCap compares warm GETs of a 64 MiB blob while the
// cache sits at its cap and a background loop of cold pulls keeps the
// evictor busy ("evicting") with the same GETs on a quiet box ("idle").
// Report evicting/idle (target >= 0.9).
func BenchmarkWarmBlobGETAtCap(b *testing.B) {
	const churnBlobs, churnSize = 160, 1 << 20
	up := upstreamtest.New(b, upstreamtest.Options{})
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), Storage: cache.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	cfg.Storage.Path = b.TempDir()
	cfg.Storage.MaxSize, cfg.Storage.MinFree = benchBlobSize+32<<20, 0
	n := proxytest.Start(b, cfg)
	d, _ := up.PushBlobOfSize(b, "library/bench", benchBlobSize)
	url := "http://" + n.Addr + "/v2/bench/blobs/" + d.String()
	var churn []string
	for i := range churnBlobs {
		cd, _ := up.PushBlobOfSize(b, "library/churn", churnSize+int64(i))
		churn = append(churn, "http://"+n.Addr+"/v2/churn/blobs/"+cd.String())
	}
	if _, err := proxytest.Get(http.DefaultClient, url); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B) {
		c := proxytest.BenchClient(4)
		b.SetBytes(benchBlobSize)
		b.ResetTimer()
		proxytest.FetchParallel(b, c, url, 4, b.N)
	}
	b.Run("idle", run)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := proxytest.BenchClient(1)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			proxytest.Get(c, churn[i%len(churn)])
		}
	}()
	b.Run("evicting", func(b *testing.B) {
		run(b)
		b.StopTimer()
		b.ReportMetric(metricValue(b, "http://"+n.Addr+"/metrics", "nora_evictions_total"), "evictions")
	})
	close(stop)
	<-done
}

// metricValue reads one unlabelled metric from a /metrics page.
func metricValue(b *testing.B, url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatalf("%s not in %s", name, url)
	return 0
}
