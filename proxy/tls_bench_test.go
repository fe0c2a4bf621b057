package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// What TLS costs nora: a warm blob GET over TLS next to the same GET over
// the plain listener and net/http's sendfile baseline, with the cipher
// suite left to Go (TLS 1.3) or forced (TLS 1.2); and a new connection's
// handshake to the first manifest byte. The client runs in the same
// process, so cpu-s/GB counts both ends (decrypting costs about what
// encrypting does): nora's own share is about half of the gap to plain.

// benchTLS is a TLS nora with a cached 64 MiB blob and a manifest.
type benchTLS struct {
	n        *proxytest.TLSNora
	ca       *x509.Certificate
	blob     string // path of the blob, on either listener
	file     string // the blob's stored file
	manifest string // path of a manifest by digest
}

func startBenchTLS(b *testing.B) *benchTLS {
	up := upstreamtest.New(b, upstreamtest.Options{})
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig()}
	cfg.Server.Plain = proxy.PlainServe
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	n := proxytest.StartTLS(b, cfg)
	_, ca := proxytest.FetchCA(b, n.PlainURL+"/ca.crt")
	d, _ := up.PushBlobOfSize(b, "library/bench", benchBlobSize)
	img := up.PushRandomImage(b, "library/m", "1", 1, 1024)
	md, _ := img.Digest()
	s := &benchTLS{n: n, ca: ca, blob: "/v2/bench/blobs/" + d.String(),
		file:     filepath.Join(n.DataDir, "objects", filepath.FromSlash(cache.BlobKey(d))),
		manifest: "/v2/m/manifests/" + md.String()}
	if _, err := proxytest.Get(http.DefaultClient, n.PlainURL+s.blob); err != nil {
		b.Fatal(err)
	}
	if _, err := proxytest.Get(http.DefaultClient, n.PlainURL+s.manifest, "Accept", manifestAccept); err != nil {
		b.Fatal(err)
	}
	n.WaitLater() // the fills' commits, behind their replies
	return s
}

const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

// tlsVariant is how a benchmark client speaks to the TLS listener.
type tlsVariant struct {
	name  string
	cfg   func() *tls.Config
	suite uint16 // the suite it must get; 0: whatever Go picks
}

var tlsVariants = []tlsVariant{
	{"tls13-default", func() *tls.Config { return &tls.Config{} }, 0},
	{"tls12-aes128gcm", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{"tls12-chacha20", tls12(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256), tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
}

// tls12 forces TLS 1.2 and suites: under TLS 1.3 Go alone picks the suite.
func tls12(suites ...uint16) func() *tls.Config {
	return func() *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
}

// client is an HTTP client for v trusting the site CA, with up to conns
// keep-alive connections; keepAlive false makes every request a new one.
func (s *benchTLS) client(v tlsVariant, conns int, keepAlive bool) *http.Client {
	c := proxytest.TLSClient(s.ca, v.cfg())
	tr := c.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, tr.DisableKeepAlives = conns, conns, !keepAlive
	return c
}

// checkSuite fails b unless a request of c negotiates v's suite.
func (s *benchTLS) checkSuite(b *testing.B, c *http.Client, v tlsVariant) {
	resp, err := c.Get(s.n.URL + "/health")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if v.suite != 0 && resp.TLS.CipherSuite != v.suite {
		b.Fatalf("%s negotiated %s", v.name, tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fetchMeasured GETs url conns times per op over conns connections of c
// (so every client is busy even when b.N is small) and reports the
// process's CPU seconds per GB moved.
func fetchMeasured(b *testing.B, c *http.Client, url string, conns int) {
	b.SetBytes(benchBlobSize * int64(conns))
	b.ResetTimer()
	before := cpuTime(b)
	proxytest.FetchParallel(b, c, url, conns, b.N*conns)
	cpu := cpuTime(b) - before
	b.StopTimer()
	b.ReportMetric(cpu.Seconds()/(float64(b.N*conns)*benchBlobSize/1e9), "cpu-s/GB")
}

// BenchmarkTLSWarmBlobGET: a warm 64 MiB blob by sendfile (net/http on
// the stored file), through nora's plain listener, and over TLS per
// variant, with 1 and 16 clients.
func BenchmarkTLSWarmBlobGET(b *testing.B) {
	s := startBenchTLS(b)
	baseURL := proxytest.SendfileBaseline(b, s.file)
	for _, conns := range []int{1, 16} {
		b.Run(fmt.Sprintf("sendfile/clients=%d", conns), func(b *testing.B) {
			fetchMeasured(b, proxytest.BenchClient(conns), baseURL, conns)
		})
		b.Run(fmt.Sprintf("plain/clients=%d", conns), func(b *testing.B) {
			fetchMeasured(b, proxytest.BenchClient(conns), s.n.PlainURL+s.blob, conns)
		})
		for _, v := range tlsVariants {
			b.Run(fmt.Sprintf("%s/clients=%d", v.name, conns), func(b *testing.B) {
				c := s.client(v, conns, true)
				s.checkSuite(b, c, v)
				fetchMeasured(b, c, s.n.URL+s.blob, conns)
			})
		}
	}
}

// BenchmarkTLSHandshake: a new connection to the first byte of a cached
// manifest, one at a time, plain and over TLS (full handshakes: the
// client keeps no session tickets). Reports p50/p99 and CPU per request.
func BenchmarkTLSHandshake(b *testing.B) {
	s := startBenchTLS(b)
	run := func(b *testing.B, c *http.Client, url string) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		before := cpuTime(b)
		for range b.N {
			start := time.Now()
			if err := firstByte(c, url); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		cpu := cpuTime(b) - before
		b.StopTimer()
		proxytest.ReportLatency(b, lat)
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	}
	b.Run("plain", func(b *testing.B) {
		c := proxytest.BenchClient(1)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		run(b, c, s.n.PlainURL+s.manifest)
	})
	for _, v := range tlsVariants {
		b.Run(v.name, func(b *testing.B) {
			c := s.client(v, 1, false)
			s.checkSuite(b, c, v)
			run(b, c, s.n.URL+s.manifest)
		})
	}
}

// firstByte GETs a manifest at url and reads its first byte.
func firstByte(c *http.Client, url string) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	one := make([]byte, 1)
	_, err = io.ReadFull(resp.Body, one)
	return err
}
