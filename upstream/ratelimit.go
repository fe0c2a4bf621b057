package upstream

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// rateLimit remembers the last `ratelimit-remaining` an upstream sent.
// Docker Hub sends it on manifest GETs ("76;w=21600": 76 pulls left in a
// 21600 s window); the proxy prefers stale tags when it runs low.
type rateLimit struct {
	remaining atomic.Int64 // n+1; 0: never seen
	set       *metrics.Set
	name      string
	once      sync.Once
	gauge     *metrics.Gauge // created on the first header, so no false 0 is exported
}

func (r *rateLimit) observe(h http.Header) {
	n, ok := parseRateLimitRemaining(h.Get("Ratelimit-Remaining"))
	if !ok {
		return
	}
	r.remaining.Store(n + 1)
	r.once.Do(func() {
		r.gauge = r.set.GetOrCreateGauge(`nora_upstream_ratelimit_remaining{upstream="`+labelValue(r.name)+`"}`, nil)
	})
	r.gauge.Set(float64(n))
}

// parseRateLimitRemaining reads the quota from "76;w=21600", "76" or a
// list of such items ("76;w=21600, 10;w=60"): the smallest one counts.
func parseRateLimitRemaining(v string) (int64, bool) {
	best, found := int64(0), false
	for item := range strings.SplitSeq(v, ",") {
		num, _, _ := strings.Cut(item, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n == math.MaxInt64 {
			continue
		}
		if !found || n < best {
			best, found = n, true
		}
	}
	return best, found
}

// RateLimitRemaining is the last `ratelimit-remaining` the upstream sent;
// known is false until it sent one.
func (r *Registry) RateLimitRemaining() (n int, known bool) {
	v := r.rate.remaining.Load()
	if v == 0 {
		return 0, false
	}
	return int(v - 1), true
}

// rateTransport notes the rate limit an answer announces.
type rateTransport struct {
	next http.RoundTripper
	rate *rateLimit
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.rate.observe(resp.Header)
	}
	return resp, err
}
