package proxy

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Label values come from fixed sets only (DESIGN 3.4): the method from
// methodLabels, the status as a class.
var (
	methodLabels = [...]string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "other"}
	classLabels  = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
)

// formatAuth is the label of the docker token endpoint (NewApp).
const formatAuth = "auth"

// cacheResults are the cache results counted in nora_cache_requests_total,
// as handlers report them through httpx.SetLogInfo; "hosted" and "" are
// not cache results.
var cacheResults = [...]string{"hit", "miss", "fill-wait", "stale", "negative"}

func cacheResultIndex(r string) int {
	for i, l := range cacheResults {
		if r == l {
			return i
		}
	}
	return -1
}

// writeResults label nora_hosted_writes_total: ok (below 400), denied (401,
// 403), rejected (other 4xx: invalid, conflict, too large ...), error (5xx).
var writeResults = [...]string{"ok", "denied", "rejected", "error"}

func writeResultIndex(status int) int {
	switch {
	case status < 400:
		return 0
	case status == 401 || status == 403:
		return 1
	case status < 500:
		return 2
	default:
		return 3
	}
}

// durationBuckets (seconds) span an answer from memory to a large blob
// streamed for minutes.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

func methodIndex(m []byte) int {
	for i, l := range methodLabels[:len(methodLabels)-1] {
		if string(m) == l {
			return i
		}
	}
	return len(methodLabels) - 1
}

func classIndex(status int) int {
	switch {
	case status < 200:
		return 0
	case status >= 500:
		return 4
	default:
		return status/100 - 1
	}
}

// serverMetrics are the HTTP metrics of one Server, in its own Set.
type serverMetrics struct {
	set      *metrics.Set
	inFlight *metrics.Gauge

	mu      sync.Mutex
	formats map[string]*formatMetrics
}

func newServerMetrics(set *metrics.Set) *serverMetrics {
	return &serverMetrics{
		set:      set,
		inFlight: set.GetOrCreateGauge("nora_http_requests_in_flight", nil),
		formats:  map[string]*formatMetrics{},
	}
}

// format returns the metrics of one format label, created once.
func (m *serverMetrics) format(format string) *formatMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fm := m.formats[format]; fm != nil {
		return fm
	}
	l := labelValue(format)
	fm := &formatMetrics{
		set:      m.set,
		label:    l,
		duration: m.set.GetOrCreatePrometheusHistogramExt(`nora_http_request_duration_seconds{format="`+l+`"}`, durationBuckets),
		bytes:    m.set.GetOrCreateCounter(`nora_http_response_bytes_total{format="` + l + `"}`),
	}
	m.formats[format] = fm
	return fm
}

// formatMetrics holds one format's series. Request counters are created on
// first use, so a scrape shows no method/status combinations that never
// happened.
type formatMetrics struct {
	set      *metrics.Set
	label    string
	requests [len(methodLabels)][len(classLabels)]atomic.Pointer[metrics.Counter]
	cache    [len(cacheResults)]atomic.Pointer[metrics.Counter]
	served   [len(cacheResults)]atomic.Pointer[metrics.Counter] // bytes, by cache result
	writes   [len(writeResults)]atomic.Pointer[metrics.Counter]
	duration *metrics.PrometheusHistogram
	bytes    *metrics.Counter
}

func (fm *formatMetrics) observe(method, class int, d time.Duration, sent int64) {
	c := fm.requests[method][class].Load()
	if c == nil {
		c = fm.set.GetOrCreateCounter(`nora_http_requests_total{format="` + fm.label +
			`",method="` + methodLabels[method] + `",status="` + classLabels[class] + `"}`)
		fm.requests[method][class].Store(c)
	}
	c.Inc()
	fm.duration.Update(d.Seconds())
	if sent > 0 {
		fm.bytes.AddInt64(sent)
	}
}

// cacheResult counts one request's cache result (an index in cacheResults)
// and the body bytes it sent: served from the cache or fetched for it.
func (fm *formatMetrics) cacheResult(i int, sent int64) {
	c := fm.cache[i].Load()
	if c == nil {
		c = fm.set.GetOrCreateCounter(`nora_cache_requests_total{format="` + fm.label + `",result="` + cacheResults[i] + `"}`)
		fm.cache[i].Store(c)
	}
	c.Inc()
	b := fm.served[i].Load()
	if b == nil {
		b = fm.set.GetOrCreateCounter(`nora_cache_served_bytes_total{format="` + fm.label + `",result="` + cacheResults[i] + `"}`)
		fm.served[i].Store(b)
	}
	if sent > 0 {
		b.AddInt64(sent)
	}
}

// write counts one hosted write (an index in writeResults).
func (fm *formatMetrics) write(i int) {
	c := fm.writes[i].Load()
	if c == nil {
		c = fm.set.GetOrCreateCounter(`nora_hosted_writes_total{format="` + fm.label + `",result="` + writeResults[i] + `"}`)
		fm.writes[i].Store(c)
	}
	c.Inc()
}

// hostedWrite tells whether a request is a write to a hosted repository:
// a write method on a format's routes. The npm audit POST is the one write
// nora forwards instead of storing.
func hostedWrite(format string, method int, path []byte) bool {
	switch format {
	case formatOps, formatNone, formatAuth:
		return false
	}
	switch methodLabels[method] {
	case "PUT", "POST", "PATCH", "DELETE":
		return !bytes.Contains(path, []byte("/-/npm/v1/security/"))
	}
	return false
}

// Build identifies the running binary in nora_build_info.
type Build struct {
	Version, Commit string
}

// registerBuildInfo exports nora_build_info{version,commit,goversion} 1, the
// usual way to put a version on dashboards and alerts.
func registerBuildInfo(set *metrics.Set, b Build) {
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return labelValue(s)
	}
	set.GetOrCreateGauge(`nora_build_info{version="`+orUnknown(b.Version)+`",commit="`+orUnknown(b.Commit)+
		`",goversion="`+labelValue(runtime.Version())+`"}`, func() float64 { return 1 })
}

// metricHelp is the HELP text of every nora_* family, wherever it is
// registered: VictoriaMetrics/metrics writes HELP lines without text.
var metricHelp = map[string]string{
	"nora_build_info":                        "Version and commit of the running nora, and the Go version it was built with; always 1.",
	"nora_http_requests_total":               "HTTP requests answered, by format (route), method and status class.",
	"nora_http_request_duration_seconds":     "Time from reading a request to writing the last byte of its response, by format.",
	"nora_http_response_bytes_total":         "Response body bytes sent to clients, by format.",
	"nora_http_requests_in_flight":           "HTTP requests being answered now.",
	"nora_cache_requests_total":              "Requests by format and how the cache answered: hit, miss, fill-wait (joined a download in progress), stale (served while the upstream is unavailable), negative (a remembered upstream 404 that the handler reported); hit ratio per format.",
	"nora_cache_served_bytes_total":          "Response body bytes sent to clients by format and cache result (as nora_cache_requests_total): hit and stale bytes came from the cache, miss bytes from an upstream, fill-wait bytes from a download another request started; WAN bytes saved.",
	"nora_cache_lookups_total":               "Cache lookups by result, several per request possible (an npm tarball looks up its packument first); the only count of remembered 404s (negative).",
	"nora_hosted_writes_total":               "Write requests (push, upload, publish, deploy, delete) to hosted repositories, by format and result: ok, denied (401/403), rejected (other 4xx), error (5xx). A docker blob upload is several requests.",
	"nora_fill_readers_per_fill":             "Clients that read each download from an upstream while it was in progress, the one that started it included; one sample per finished fill.",
	"nora_fill_bytes_total":                  "Bytes downloaded from upstreams into the cache.",
	"nora_fill_verify_failures_total":        "Downloads discarded because their digest or size did not match.",
	"nora_fill_passthrough_total":            "Downloads streamed to clients without being stored, because the storage was full.",
	"nora_fills_in_flight":                   "Downloads from upstreams into the cache in progress now.",
	"nora_maintenance_lease_held":            "1 while this instance runs eviction and GC (always on disk; on a shared S3 bucket, the holder of its maintenance lease), else 0.",
	"nora_evictions_total":                   "Cached objects evicted to keep the storage under its limits.",
	"nora_evicted_bytes_total":               "Bytes of cached objects evicted.",
	"nora_storage_bytes":                     "Bytes stored, by kind: proxied (cache, evictable) or hosted (never evicted).",
	"nora_storage_capacity_bytes":            "Storage limit nora keeps its objects under.",
	"nora_storage_free_bytes":                "Free bytes on the storage's filesystem at the last check.",
	"nora_upstream_requests_total":           "Requests sent to upstreams (every attempt), by upstream and status class, or error when no response came.",
	"nora_upstream_request_duration_seconds": "Time from sending a request to an upstream until its response headers arrived (redirects followed), per attempt, by upstream and status class.",
	"nora_upstream_bytes_total":              "Response body bytes read from upstreams.",
	"nora_upstream_retries_total":            "Upstream requests retried after a connect error or a 5xx.",
	"nora_upstream_breaker_open":             "1 while an upstream's circuit breaker is open (requests fail fast), else 0.",
	"nora_upstream_rate_limited_total":       "Upstream answers 429 (rate limited); nora then asks for that URL again only after its Retry-After.",
	"nora_upstream_held_total":               "Revalidations (HEAD, conditional GET) of a URL an upstream answered 429 that nora answered itself before the Retry-After passed, serving its copy stale.",
	"nora_upstream_ratelimit_remaining":      "Requests left in the upstream's rate-limit window, from its last response headers.",
	"nora_upstream_up":                       "1 while an upstream's last attempt got an answer below 500 (and so its breaker is closed), 0 after a connect error, timeout or 5xx until an attempt succeeds; 1 for an upstream not asked yet.",
	"nora_tenant_requests_total":             "Requests counted against each tenant ([[tenants]], else default), by action (pull, push, delete) and result: ok, rate_limited (answered 429), over_quota (refused 403).",
	"nora_tenant_rate_limited_total":         "Requests of each tenant answered 429 because one of its rate limits, or the anonymous per-address limit, was spent.",
	"nora_tenant_storage_bytes":              "Hosted bytes of each tenant's names, an object counted once per tenant however many of its names hold it.",
	"nora_tenant_storage_quota_bytes":        "Storage quota of each tenant in bytes; 0: none.",
	"nora_webhook_deliveries_total":          "Attempts to post an event to each webhook ([[webhooks]] name, else webhook-<index>), by result: delivered (2xx), retry (failed, tried again later), failed (given up).",
	"nora_webhook_queue_length":              "Events queued for each webhook, not yet delivered or given up.",
	"nora_webhook_events_dropped_total":      "Webhook events dropped because the queue's writer was behind (or the queue could not be written).",
}

// serveMetricsHelp wraps the /metrics handler h: it turns on the library's
// HELP and TYPE lines (a process-wide switch of VictoriaMetrics/metrics; nora
// always wants it) and fills in the text of the HELP lines of nora's
// families, which the library leaves empty.
func serveMetricsHelp(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	metrics.ExposeMetadata(true)
	return func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		ctx.Response.SetBodyRaw(addHelp(ctx.Response.Body()))
	}
}

// addHelp returns text with text added to its empty HELP lines (helpFor).
func addHelp(text []byte) []byte {
	const prefix = "# HELP "
	out := make([]byte, 0, len(text)+len(text)/4)
	for len(text) > 0 {
		line, rest, _ := bytes.Cut(text, []byte("\n"))
		text = rest
		out = append(out, line...)
		if name, ok := bytes.CutPrefix(line, []byte(prefix)); ok && bytes.IndexByte(name, ' ') < 0 {
			if h := helpFor(string(name)); h != "" {
				out = append(out, ' ')
				out = append(out, h...)
			}
		}
		out = append(out, '\n')
	}
	return out
}

// helpFor is the HELP text of a family: metricHelp's, or a pointer to the
// library for its process and Go runtime metrics.
func helpFor(family string) string {
	switch {
	case metricHelp[family] != "":
		return metricHelp[family]
	case strings.HasPrefix(family, "go_"):
		return "Go runtime metric, as github.com/VictoriaMetrics/metrics exports it."
	case strings.HasPrefix(family, "process_"):
		return "Process metric (from /proc), as github.com/VictoriaMetrics/metrics exports it."
	}
	return ""
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
