package cargo_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/proxytest"
)

// Figures stand next to a baseline measured in the same run: the warm
// .crate GET is compared with net/http serving the same file (sendfile).

func benchNora(b *testing.B, up *cargotest.Registry, ttl time.Duration) *noraUnderTest {
	cfg := cargo.DefaultConfig()
	cfg.Index = up.IndexURL
	cfg.TTL = units.Duration(ttl)
	return startNora(b, cfg)
}

func randomBytes(b *testing.B, n int) []byte {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		b.Fatal(err)
	}
	return buf
}

func BenchmarkWarmIndexGET64(b *testing.B) {
	up := cargotest.New(b, cargotest.Options{})
	for i := range 200 { // an index file of a busy crate, about 40 KiB
		up.Publish("serde", fmt.Sprintf("1.0.%d", i), []byte(fmt.Sprint(i)), cargotest.Dep{Name: "serde_derive", Req: "^1"})
	}
	n := benchNora(b, up, time.Hour)
	url := "http://" + n.Addr + "/cargo/index/se/rd/serde"
	proxytest.LatencyBench(b, url, 64)
}

func BenchmarkWarmCrateGET(b *testing.B) {
	const size = 16 << 20
	up := cargotest.New(b, cargotest.Options{})
	body := randomBytes(b, size)
	up.Publish("big", "1.0.0", body)
	n := benchNora(b, up, time.Hour)
	noraURL := "http://" + n.Addr + "/cargo/api/v1/crates/big/1.0.0/download"
	if _, err := proxytest.Get(http.DefaultClient, noraURL); err != nil {
		b.Fatal(err)
	}
	n.WaitLater() // the fill's commit, behind its reply
	sum := sha256.Sum256(body)
	file := filepath.Join(n.DataDir, "objects", filepath.FromSlash(cache.BlobKey(digest.NewDigestFromBytes(digest.SHA256, sum[:]))))
	proxytest.WarmVsSendfile(b, noraURL, file, size)
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
		url := "http://" + n.Addr + "/cargo/api/v1/crates/cold/" + vers + "/download"
		b.StartTimer()
		proxytest.FetchParallel(b, proxytest.BenchClient(16), url, 16, 16)
		b.StopTimer()
		gets += up.CrateGets("cold", vers)
	}
	b.ReportMetric(float64(gets)/float64(b.N), "upstream-gets/op")
	b.SetBytes(size * 16)
}
