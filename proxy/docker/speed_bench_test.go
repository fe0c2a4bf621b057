package docker_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The small-request speed comparison (issue 18): warm manifest GETs by
// digest and by a fresh tag over 16 keep-alive connections, through nora
// with its access log on (JSON lines to a file, as `nora serve` writes
// them to stdout) and through nginx's proxy_cache with its access log on,
// in front of the same upstream, in alternating turns of one run.

const (
	speedConns = 16
	speedTurn  = 20_000 // GETs per turn: a busy machine slows both alike
	ociAccept  = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
		"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// accessLogger is the logger `nora serve` builds (cmd/nora newLogger),
// writing to a file in dir instead of stdout.
func accessLogger(b testing.TB, dir string) *slog.Logger {
	f, err := os.Create(filepath.Join(dir, "nora.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	durationString := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}
	return slog.New(proxy.NewLogHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: durationString}))
}

// upstreamToken asks the fixture's token server for a pull token of repo,
// which nginx passes on to fill its cache (nora fetches its own).
func upstreamToken(b testing.TB, up *upstreamtest.Registry, repo string) string {
	resp, err := http.Get(up.Realm + "?service=" + upstreamtest.Service + "&scope=" + url.QueryEscape("repository:"+repo+":pull"))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		b.Fatalf("token: %v", err)
	}
	return tok.Token
}

// speedTarget is one proxy under load: the URLs of the digest and the tag.
type speedTarget struct {
	name        string
	digest, tag string
}

// BenchmarkSpeedWarmManifest reports, for GETs by digest and by tag,
// nora's and nginx's requests per second, nora/nginx, and each one's
// p50 and p99 in µs. The load generator is fasthttp's client, one
// connection per worker: net/http's client reached half the rate on this
// 2-core box (and slowed both proxies alike), so it measured itself.
func BenchmarkSpeedWarmManifest(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	img := up.PushRandomImage(b, "library/bench", "1", 1, 1024)
	d, _ := img.Digest()
	logDir := b.TempDir()
	n := startNora(b, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL, Realm: up.Realm,
		TTL: units.Duration(time.Hour)}}, log: accessLogger(b, logDir)})
	ng := proxytest.StartNginx(b, up.URL, proxytest.NginxOptions{AccessLog: true, Valid: time.Hour})
	targets := []speedTarget{
		{"nora", n.URL + "/v2/bench/manifests/" + d.String(), n.URL + "/v2/bench/manifests/1"},
		{"nginx", ng.URL + "/v2/library/bench/manifests/" + d.String(), ng.URL + "/v2/library/bench/manifests/1"},
	}
	token := upstreamToken(b, up, "library/bench")
	for i, t := range targets {
		hdr := []string{"Accept", ociAccept}
		if i == 1 {
			hdr = append(hdr, "Authorization", "Bearer "+token) // nora would take it for its own
		}
		for _, u := range []string{t.digest, t.tag} {
			if _, err := proxytest.Get(http.DefaultClient, u, hdr...); err != nil {
				log, _ := os.ReadFile(filepath.Join(logDir, "nora.log"))
				b.Fatal(err, string(log))
			}
		}
	}
	for _, by := range []string{"digest", "tag"} {
		b.Run("by="+by, func(b *testing.B) {
			var lat [2][]time.Duration
			var spent [2]time.Duration
			gets := 0
			for gets < b.N {
				for i, t := range targets {
					u := t.digest
					if by == "tag" {
						u = t.tag
					}
					start := time.Now()
					lat[i] = append(lat[i], loadTurn(b, u, speedConns, speedTurn)...)
					spent[i] += time.Since(start)
				}
				gets += speedTurn
			}
			b.StopTimer()
			for i, t := range targets {
				b.ReportMetric(float64(gets)/spent[i].Seconds(), t.name+"-req/s")
				reportPercentiles(b, t.name, lat[i])
			}
			b.ReportMetric(spent[1].Seconds()/spent[0].Seconds(), "nora/nginx")
		})
	}
}

func reportPercentiles(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), name+"-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), name+"-p99-µs")
}

// loadTurn GETs u total times over conns connections with the generator
// and returns every GET's latency.
func loadTurn(b testing.TB, u string, conns, total int) []time.Duration {
	var next atomic.Int64
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	for w := range conns {
		get := fastGetter(u)
		lats[w] = make([]time.Duration, 0, total/conns+1)
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				start := time.Now()
				if err := get(); err != nil {
					b.Error(err)
					return
				}
				lats[w] = append(lats[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	return slices.Concat(lats...)
}

// fastGetter is one fasthttp connection GETting u, without allocating.
func fastGetter(u string) func() error {
	host := strings.TrimPrefix(u, "http://")
	host = host[:strings.IndexByte(host, '/')]
	c := &fasthttp.HostClient{Addr: host, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(u)
	req.Header.Set("Accept", ociAccept)
	return func() error {
		if err := c.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) == 0 {
			return fmt.Errorf("GET %s: %d", u, resp.StatusCode())
		}
		return nil
	}
}
