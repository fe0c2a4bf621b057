package proxy

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Label values come from fixed sets only (DESIGN 3.4): the method from
// methodLabels, the status as a class.
var (
	methodLabels = [...]string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "other"}
	classLabels  = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
)

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
		duration: m.set.GetOrCreateHistogram(`nora_http_request_duration_seconds{format="` + l + `"}`),
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
	duration *metrics.Histogram
	bytes    *metrics.Counter
}

func (fm *formatMetrics) observe(method, class int, d time.Duration, bytes int64) {
	c := fm.requests[method][class].Load()
	if c == nil {
		c = fm.set.GetOrCreateCounter(`nora_http_requests_total{format="` + fm.label +
			`",method="` + methodLabels[method] + `",status="` + classLabels[class] + `"}`)
		fm.requests[method][class].Store(c)
	}
	c.Inc()
	fm.duration.Update(d.Seconds())
	if bytes > 0 {
		fm.bytes.AddInt64(bytes)
	}
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
