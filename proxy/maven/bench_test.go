package maven_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// Benchmarks report figures against a baseline measured in the same run:
// the warm artifact GET is compared with net/http serving the same file
// (which goes out by sendfile).

const benchArtifactSize = 32 << 20

func BenchmarkWarmMetadataGET64(b *testing.B) {
	root := b.TempDir()
	maventest.BuildFixtures(b, root)
	up := maventest.New(b, root)
	cfg := maven.DefaultConfig()
	cfg.TTL = units.Duration(time.Hour)
	n := startNora(b, cfg, up.URL)
	url := n.base() + "org/example/nora/greeting/maven-metadata.xml"
	proxytest.LatencyBench(b, url, 64)
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
	if _, err := proxytest.Get(http.DefaultClient, noraURL); err != nil {
		b.Fatal(err)
	}
	proxytest.WarmVsSendfile(b, noraURL, filepath.Join(root, filepath.FromSlash(path)), benchArtifactSize)
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
		ttfbSpread := proxytest.ColdFanOut(b, n.base()+path, 16)
		b.StopTimer()
		requests += float64(up.Gets(path))
		spread += float64(ttfbSpread) / float64(time.Millisecond)
	}
	b.ReportMetric(requests/float64(b.N), "upstream-requests")
	b.ReportMetric(spread/float64(b.N), "ttfb-spread-ms")
	b.SetBytes(size * 16)
}
