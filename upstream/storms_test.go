package upstream_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/upstream"
	"nora/upstream/upstreamtest"
)

// stormSite is one format's nora behind a FaultProxy in front of a real
// fixture, revalidating on every request (ttl 0): cached is warm, never
// and cold were never asked for (cold exists upstream), label names the
// upstream in the metrics.
type stormSite struct {
	fp                  *upstreamtest.FaultProxy
	n                   *proxytest.Nora
	cached, never, cold string
	label               string
	wantBody            string // in the format's error body
}

const manifestAccept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"

func dockerStormSite(t *testing.T, uc upstream.Config) stormSite {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "team/app", "v1", 1, 1024)
	up.PushRandomImage(t, "team/cold", "v1", 2, 1024)
	fp := upstreamtest.NewFaultProxy(t, up.URL)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), Upstream: &uc}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: fp.URL, Realm: up.Realm}}
	n := proxytest.Start(t, cfg)
	return stormSite{fp: fp, n: n, label: "docker.io", wantBody: "UNAVAILABLE",
		cached: n.URL + "/v2/team/app/manifests/v1",
		never:  n.URL + "/v2/team/never/manifests/v1",
		cold:   n.URL + "/v2/team/cold/manifests/v1"}
}

// npmStormSite: the registry writes tarball links on its own URL; it is
// pointed at the proxy so that tarballs go through the faults too.
func npmStormSite(t *testing.T, uc upstream.Config) stormSite {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "app", "1.0.0", 1024)
	up.Publish(t, "cold", "1.0.0", 1024)
	fp := upstreamtest.NewFaultProxy(t, up.URL)
	up.URL = fp.URL
	cfg := npm.DefaultConfig()
	cfg.Upstream, cfg.TTL = fp.URL, 0
	n := proxytest.Start(t, proxy.AppConfig{Npm: cfg, Upstream: &uc})
	return stormSite{fp: fp, n: n, label: "npm", wantBody: `"error"`,
		cached: n.URL + "/npm/app", never: n.URL + "/npm/never", cold: n.URL + "/npm/cold"}
}

func stormGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", manifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// mustServe GETs url and wants a 200, stale (X-Nora-Stale: 1) or fresh.
func mustServe(t *testing.T, url string, stale bool) {
	t.Helper()
	resp, body := stormGet(t, url)
	if resp.StatusCode != 200 || (resp.Header.Get("X-Nora-Stale") == "1") != stale {
		t.Fatalf("GET %s: %d X-Nora-Stale %q, want 200 stale=%v\n%s", url, resp.StatusCode,
			resp.Header.Get("X-Nora-Stale"), stale, body)
	}
}

// metricOf reads one series from nora's /metrics; 0 when absent.
func metricOf(t *testing.T, n *proxytest.Nora, series string) float64 {
	t.Helper()
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// pollUntil calls try every 50 ms until it reports true, for at most d.
func pollUntil(t *testing.T, d time.Duration, what string, try func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !try(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

func TestUpstream429Storm(t *testing.T) {
	t.Run("docker", func(t *testing.T) { check429Storm(t, dockerStormSite(t, proxytest.Upstream())) })
	t.Run("npm", func(t *testing.T) { check429Storm(t, npmStormSite(t, proxytest.Upstream())) })
}

// check429Storm: under 429 with Retry-After, a cached document is served
// stale and the upstream is not asked for it again before Retry-After has
// passed (only then, and once per Retry-After); a document never cached
// gets the 429 with the time left; both are counted; after the storm the
// document is fresh again.
func check429Storm(t *testing.T, s stormSite) {
	mustServe(t, s.cached, false)
	s.fp.SetStatusStorm(http.StatusTooManyRequests, 1, time.Second)
	start := time.Now() // before nora can have heard the 429: its hold ends later
	mustServe(t, s.cached, true)
	first := s.fp.Stats().Stormed
	if first == 0 {
		t.Fatal("the upstream was not asked")
	}
	held := 0
	for range 5 {
		mustServe(t, s.cached, true)
		if got := s.fp.Stats().Stormed; time.Since(start) < time.Second && got != first {
			t.Fatalf("upstream asked %d times within its Retry-After, want %d", got, first)
		}
		held++
	}
	resp, body := stormGet(t, s.never)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "{") {
		t.Fatalf("never cached, rate limited: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	base := s.fp.Stats().Stormed // the never cached request went out
	pollUntil(t, 15*time.Second, "asked again after Retry-After", func() bool {
		mustServe(t, s.cached, true)
		return s.fp.Stats().Stormed > base
	})
	if d := time.Since(start); d < time.Second {
		t.Fatalf("upstream asked again %v after its 429 said Retry-After: 1", d)
	}
	if got := metricOf(t, s.n, `nora_upstream_rate_limited_total{upstream="`+s.label+`"}`); got < 2 {
		t.Fatalf("nora_upstream_rate_limited_total = %v, want the 429s counted", got)
	}
	if got := metricOf(t, s.n, `nora_upstream_held_total{upstream="`+s.label+`"}`); got < 1 {
		t.Fatalf("nora_upstream_held_total = %v after %d pulls in the hold", got, held)
	}
	s.fp.SetStatusStorm(0, 0, 0)
	pollUntil(t, 15*time.Second, "fresh after the storm", func() bool {
		resp, _ := stormGet(t, s.cached)
		return resp.StatusCode == 200 && resp.Header.Get("X-Nora-Stale") == ""
	})
}

func TestUpstream5xxStorm(t *testing.T) {
	uc := proxytest.Upstream()
	uc.BreakerFailures, uc.BreakerCooldown = 3, 2*time.Second
	t.Run("docker", func(t *testing.T) { check5xxStorm(t, dockerStormSite(t, uc)) })
	t.Run("npm", func(t *testing.T) { check5xxStorm(t, npmStormSite(t, uc)) })
}

// check5xxStorm: a 5xx storm opens the breaker; while it is open the
// upstream is not asked (one half-open trial per cooldown at most), cached
// documents are served stale and documents never cached get the format's
// 503; after the storm the breaker closes and a cold request succeeds.
func check5xxStorm(t *testing.T, s stormSite) {
	mustServe(t, s.cached, false)
	s.fp.SetStatusStorm(http.StatusServiceUnavailable, 1, 0)
	open := `nora_upstream_breaker_open{upstream="` + s.label + `"}`
	pollUntil(t, 10*time.Second, "breaker open", func() bool {
		mustServe(t, s.cached, true)
		return metricOf(t, s.n, open) == 1
	})
	before := s.fp.Stats().Stormed
	for range 10 {
		mustServe(t, s.cached, true)
		resp, body := stormGet(t, s.never)
		if resp.StatusCode != 503 || !strings.Contains(body, s.wantBody) {
			t.Fatalf("never cached, breaker open: %d\n%s", resp.StatusCode, body)
		}
	}
	// The cooldown (2 s) may end during the loop: one trial, no more.
	if got := s.fp.Stats().Stormed - before; got > 1 {
		t.Fatalf("upstream asked %d times while the breaker was open", got)
	}
	s.fp.SetStatusStorm(0, 0, 0)
	pollUntil(t, 15*time.Second, "cold request after the storm", func() bool {
		resp, _ := stormGet(t, s.cold)
		return resp.StatusCode == 200
	})
	if got := metricOf(t, s.n, open); got != 0 {
		t.Fatalf("breaker open = %v after a success", got)
	}
	mustServe(t, s.cached, false)
}

// TestUpstreamLossyLink: a fill cut mid-body by a lossy link, and cut
// again when it asks for the rest, is never committed and never served
// whole; one cut now and then is resumed where it broke and verifies; once
// the link is clean the first pull succeeds, also through latency and a
// narrow link, and verifies.
func TestUpstreamLossyLink(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	d, _ := up.PushBlobOfSize(t, "team/big", 256<<10)
	fp := upstreamtest.NewFaultProxy(t, up.URL)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: fp.URL, Realm: up.Realm}}
	n := proxytest.Start(t, cfg)
	url := n.URL + "/v2/team/big/blobs/" + d.String()

	fp.SetLoss(1)
	for range 3 {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 && digest.FromBytes(body) == d {
			t.Fatal("a whole blob came through a link that cuts every response")
		}
	}
	if fp.Stats().Cut == 0 {
		t.Fatal("the proxy cut nothing")
	}
	if n.Stored(cache.BlobKey(d)) {
		t.Fatal("a cut fill was committed")
	}
	fp.SetLoss(0)

	// A link that cuts a response now and then: the fill asks for the
	// rest where it broke (Range), and the pull is whole and verified.
	d2, _ := up.PushBlobOfSize(t, "team/big", 256<<10)
	url2 := n.URL + "/v2/team/big/blobs/" + d2.String()
	cut := fp.Stats().Cut
	fp.CutNext(2) // the first answer and the first resume
	resp, body := stormGet(t, url2)
	if resp.StatusCode != 200 || digest.FromBytes([]byte(body)) != d2 || !n.Stored(cache.BlobKey(d2)) {
		t.Fatalf("pull over a link that cut it twice: %d, %d bytes, stored %v", resp.StatusCode, len(body), n.Stored(cache.BlobKey(d2)))
	}
	if got := fp.Stats().Cut - cut; got != 2 {
		t.Fatalf("%d responses cut, want 2", got)
	}
	if got := up.BlobGets(d2); got != 3 {
		t.Fatalf("%d upstream GETs of the blob, want 3 (the first, two resumes)", got)
	}

	fp.SetLatency(20 * time.Millisecond)
	fp.SetBandwidth(1 << 20)
	resp, body = stormGet(t, url)
	if resp.StatusCode != 200 || digest.FromBytes([]byte(body)) != d || !n.Stored(cache.BlobKey(d)) {
		t.Fatalf("pull over a clean but slow link: %d, %d bytes", resp.StatusCode, len(body))
	}
}
