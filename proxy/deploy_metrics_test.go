package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/httpx"
	"nora/proxy/proxytest"
	"nora/proxy/webhook"
	"nora/upstream/upstreamtest"
)

// The dashboard and alerts that ship in deploy/ name nora's metrics by
// hand; a metric renamed in the code leaves a panel empty and an alert
// silent without anyone noticing.
const (
	dashboardFile = "../deploy/grafana/nora.json"
	alertsFile    = "../deploy/prometheus/alerts.yml"
)

// prometheusSeries are series Prometheus makes itself, never in /metrics.
var prometheusSeries = map[string]bool{"up": true}

// TestDeployMetricsExist scrapes a nora that served a cold and a warm pull
// through an upstream with a rate limit and refused a write, and checks
// that every metric the Grafana dashboard and the Prometheus alerts name
// is in the scrape.
func TestDeployMetricsExist(t *testing.T) {
	families := scrapeAfterTraffic(t)

	dashboard, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string][]string{} // metric name: where it is used
	exprs := dashboardExprs(t, dashboard)
	for _, expr := range exprs {
		for _, name := range metricNames(expr) {
			uses[name] = append(uses[name], "dashboard: "+expr)
		}
	}
	rules := ruleExprs(t, string(alerts))
	for alert, expr := range rules {
		for _, name := range metricNames(expr) {
			uses[name] = append(uses[name], "alert "+alert+": "+expr)
		}
	}
	// A tokenizer that found nothing would pass everything.
	if len(rules) < 8 || len(uses) < 25 {
		t.Fatalf("%d alerts and %d metric names read from %s and %s", len(rules), len(uses), dashboardFile, alertsFile)
	}
	for name, where := range uses {
		if !scraped(families, name) {
			t.Errorf("%s is not in /metrics; used in\n\t%s", name, strings.Join(where, "\n\t"))
		}
	}
	checkWithPromtool(t, exprs)
}

// scraped reports whether /metrics has the family name, or name is the
// _bucket, _sum or _count series of a histogram it has.
func scraped(families map[string]*dto.MetricFamily, name string) bool {
	if prometheusSeries[name] || families[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base].GetType() == dto.MetricType_HISTOGRAM {
			return true
		}
	}
	return false
}

// scrapeAfterTraffic runs a nora with a webhook in front of a registry
// that announces a pull budget, pulls an image's manifest and layer twice (a miss, then a
// hit), tries a push nora refuses, and returns its /metrics. Every family
// the deploy files need is then there, and the bytes served count.
func scrapeAfterTraffic(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/app", "1", 1, 32<<10)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(),
		Webhooks: []webhook.Config{{Name: "ci", URL: receiver.URL, Events: []string{httpx.EventFill}}}}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	n := proxytest.Start(t, cfg)

	for range 2 {
		if resp, _ := get(t, n.URL+"/v2/library/app/manifests/1"); resp.StatusCode != 200 {
			t.Fatalf("manifest: %d", resp.StatusCode)
		}
		if resp, body := get(t, n.URL+"/v2/library/app/blobs/"+layer.String()); resp.StatusCode != 200 || int64(len(body)) != size {
			t.Fatalf("layer: %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	resp, err := http.Post(n.URL+"/v2/library/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("a push to a proxied repository: %d", resp.StatusCode)
	}

	resp, err = http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	families := parseMetrics(t, text)
	served := seriesValues(families["nora_cache_served_bytes_total"])
	for _, result := range []string{"miss", "hit"} {
		key := `{format="docker",result="` + result + `"}`
		if served[key] < float64(size) {
			t.Errorf("nora_cache_served_bytes_total%s = %v, want the layer's %d bytes at least", key, served[key], size)
		}
	}
	if got := seriesValues(families["nora_upstream_up"])[`{upstream="docker.io"}`]; got != 1 {
		t.Errorf(`nora_upstream_up{upstream="docker.io"} = %v, want 1`, got)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
	return families
}

// seriesValues maps the label string of each series of a counter or gauge
// family to its value.
func seriesValues(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		out[labelString(m)] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return out
}

// checkWithPromtool has promtool (installed by .ci/setup-promtool.sh)
// check the rules file as Prometheus loads it and run its unit tests
// (alerts_test.yml), and parse every expression of the dashboard,
// Grafana's variables replaced by what Grafana puts in their place.
// Without promtool it fails, but under -short.
func checkWithPromtool(t *testing.T, dashboardExprs []string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Logf("promtool is not installed: %s and %s checked for metric names only (-short)", alertsFile, dashboardFile)
			return
		}
		t.Fatalf("promtool is not installed (make setup installs it): %v", err)
	}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(filepath.Dir(alertsFile), "check", "rules", filepath.Base(alertsFile))
	run(filepath.Dir(alertsFile), "test", "rules", "alerts_test.yml")

	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1d", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, expr := range dashboardExprs {
		quoted, _ := json.Marshal(grafana.Replace(expr)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:expr%d\n        expr: %s\n", i, quoted)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(dir, "check", "rules", "dashboard.yml")
}
