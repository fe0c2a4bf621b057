package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

type registryMetrics struct {
	set         *metrics.Set
	label       string
	requests    map[string]*metrics.Counter // by status class
	durations   [len(statusClasses)]atomic.Pointer[metrics.PrometheusHistogram]
	bytes       *metrics.Counter
	retries     *metrics.Counter
	breakerOpen *metrics.Gauge
	up          *metrics.Gauge
}

var statusClasses = [...]string{"2xx", "3xx", "4xx", "5xx", "error"}

// durationBuckets (seconds) of the time to response headers: a nearby
// mirror answers in milliseconds, a registry across an ocean in a few
// hundred, a struggling one in tens of seconds.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newRegistryMetrics(set *metrics.Set, name string) *registryMetrics {
	l := labelValue(name)
	m := &registryMetrics{
		set:         set,
		label:       l,
		requests:    map[string]*metrics.Counter{},
		bytes:       set.GetOrCreateCounter(`nora_upstream_bytes_total{upstream="` + l + `"}`),
		retries:     set.GetOrCreateCounter(`nora_upstream_retries_total{upstream="` + l + `"}`),
		breakerOpen: set.GetOrCreateGauge(`nora_upstream_breaker_open{upstream="`+l+`"}`, nil),
		up:          set.GetOrCreateGauge(`nora_upstream_up{upstream="`+l+`"}`, nil),
	}
	// Up until an attempt fails: an upstream nobody asked yet is not down.
	m.up.Set(1)
	for _, c := range statusClasses {
		m.requests[c] = set.GetOrCreateCounter(fmt.Sprintf(`nora_upstream_requests_total{upstream="%s",status="%s"}`, l, c))
	}
	return m
}

// request counts one exchange with the upstream: a status, or an error
// (status 0), and took, the time until the response headers or the error.
// The histograms are created on first use, so that a scrape shows no
// classes that never happened.
func (m *registryMetrics) request(status int, took time.Duration) {
	i := len(statusClasses) - 1 // error
	if status >= 200 && status < 600 {
		i = status/100 - 2
	}
	m.requests[statusClasses[i]].Inc()
	h := m.durations[i].Load()
	if h == nil {
		h = m.set.GetOrCreatePrometheusHistogramExt(`nora_upstream_request_duration_seconds{upstream="`+
			m.label+`",status="`+statusClasses[i]+`"}`, durationBuckets)
		m.durations[i].Store(h)
	}
	h.Update(took.Seconds())
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// countingBody counts the bytes callers read from an upstream body and marks
// a body that breaks off as unavailable, so a fill can tell "upstream cut
// the transfer" from its own errors.
type countingBody struct {
	rc      io.ReadCloser
	counter *metrics.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.counter.Add(n)
	if err != nil && err != io.EOF && !errors.Is(err, ErrUnavailable) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("cannot read upstream body: %w: %w", ErrUnavailable, err)
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// meterTransport times each exchange and counts it by status class.
type meterTransport struct {
	next http.RoundTripper
	m    *registryMetrics
}

func (t *meterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.m.request(status, time.Since(start))
	return resp, err
}

// countTransport counts the body bytes callers read from answers.
type countTransport struct {
	next    http.RoundTripper
	counter *metrics.Counter
}

func (t *countTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{rc: resp.Body, counter: t.counter}
	}
	return resp, err
}
