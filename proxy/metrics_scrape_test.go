package proxy_test

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// TestMetricsScrape scrapes /metrics of a nora that has served a miss, a
// hit and hosted writes, as Prometheus would: every family has HELP and
// TYPE, histograms have cumulative le buckets ending in +Inf, and the
// series dashboards need are there.
func TestMetricsScrape(t *testing.T) {
	root := t.TempDir()
	const jar = "org/example/lib/1.0/lib-1.0.jar"
	maventest.WriteFile(t, root, jar, []byte("jar from upstream"))
	up := maventest.New(t, root)
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: up.URL}}
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := proxytest.Start(t, proxy.AppConfig{Maven: mc, Auth: ac,
		Build: proxy.Build{Version: "v9.8.7", Commit: "abc123"}})

	send := func(method, path, user, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, n.URL+"/maven2/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	send("GET", jar, "", "", 200) // miss
	n.WaitLater()                 // its commit, behind the reply
	send("GET", jar, "", "", 200) // hit
	send("PUT", "com/acme/app/1.0/app-1.0.jar", "ci", "app 1.0", 201)
	send("PUT", "com/acme/app/1.1/app-1.1.jar", "", "x", 401)

	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	families := parseMetrics(t, text)

	series := map[string]float64{} // "name{k=v,...}" with labels sorted
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			key := name + labelString(m)
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				series[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				series[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				series[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{
		`nora_build_info{commit="abc123",goversion="` + goVersion(t, families) + `",version="v9.8.7"}`: 1,
		`nora_cache_requests_total{format="maven",result="miss"}`:                                      1,
		`nora_cache_requests_total{format="maven",result="hit"}`:                                       1,
		`nora_hosted_writes_total{format="maven",result="ok"}`:                                         1,
		`nora_hosted_writes_total{format="maven",result="denied"}`:                                     1,
		`nora_http_request_duration_seconds{format="maven"}`:                                           4,
	} {
		if got, ok := series[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	// The upstream answered the jar (and its checksum): one histogram per
	// status class, labelled like every other upstream.
	if series[`nora_upstream_request_duration_seconds{status="2xx",upstream="maven"}`] < 1 {
		t.Errorf("no upstream latency for maven 2xx in:\n%s", text)
	}
	if _, ok := families["nora_fill_readers_per_fill"]; !ok {
		t.Errorf("no nora_fill_readers_per_fill")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// parseMetrics parses a scrape with Prometheus' own text parser and checks
// what a Prometheus server and Grafana rely on.
func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	// A family's HELP or TYPE line written twice is an error for Prometheus,
	// and the parser says so.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, text)
	}
	for _, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, "vmrange") {
			t.Fatalf("VictoriaMetrics buckets, useless to histogram_quantile(): %s", line)
		}
	}
	for name, mf := range families {
		if mf.Help == nil {
			t.Errorf("%s: no HELP line", name)
		}
		if strings.HasPrefix(name, "nora_") && strings.TrimSpace(mf.GetHelp()) == "" {
			t.Errorf("%s: empty HELP (add it to metricHelp in proxy/metrics.go)", name)
		}
		if mf.Type == nil || mf.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("%s: no TYPE line", name)
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range mf.GetMetric() {
			checkBuckets(t, name+labelString(m), m.GetHistogram())
		}
	}
	return families
}

// checkBuckets: le bounds increase, counts are cumulative, and the last
// bucket is +Inf holding the sample count.
func checkBuckets(t *testing.T, name string, h *dto.Histogram) {
	t.Helper()
	bs := h.GetBucket()
	if len(bs) < 2 {
		t.Errorf("%s: %d buckets", name, len(bs))
		return
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() || bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
			t.Errorf("%s: bucket le=%v (%d) after le=%v (%d)", name, bs[i].GetUpperBound(), bs[i].GetCumulativeCount(),
				bs[i-1].GetUpperBound(), bs[i-1].GetCumulativeCount())
		}
	}
	last := bs[len(bs)-1]
	// The Go runtime's histograms have no _count (nor _sum): the library
	// leaves them out for want of an exact sum.
	if !math.IsInf(last.GetUpperBound(), 1) || (h.SampleCount != nil && last.GetCumulativeCount() != h.GetSampleCount()) {
		t.Errorf("%s: last bucket le=%v (%d), want +Inf with the count %d", name, last.GetUpperBound(),
			last.GetCumulativeCount(), h.GetSampleCount())
	}
}

// labelString is {k="v",...} in label name order, "" without labels.
func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// goVersion is the goversion label of nora_build_info.
func goVersion(t *testing.T, families map[string]*dto.MetricFamily) string {
	t.Helper()
	mf := families["nora_build_info"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("nora_build_info: %v", mf)
	}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		if l.GetName() == "goversion" && strings.HasPrefix(l.GetValue(), "go") {
			return l.GetValue()
		}
	}
	t.Fatalf("nora_build_info has no goversion: %v", mf)
	return ""
}
