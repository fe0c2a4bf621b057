package upstream

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	// defaultRetryAfter is the hold after a 429 that named no Retry-After.
	defaultRetryAfter = 5 * time.Second
	// maxHeld bounds the URLs remembered at once.
	maxHeld = 4096
)

// holds remembers, per URL, until when an upstream asked not to be asked
// again (429 with Retry-After). It is per URL, not per upstream: another
// object still gets its own answer (a 404, a 5xx the breaker counts), and
// the objects asked again and again, the tags and packuments revalidated on
// every pull, are the ones held back.
type holds struct {
	n     atomic.Int32 // entries; 0 keeps the common path off the lock
	mu    sync.Mutex
	until map[string]time.Time
}

// left is how long key is still held; 0 when it is not.
func (h *holds) left(key string, now time.Time) time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.until[key]
	if !ok {
		return 0
	}
	if d := u.Sub(now); d > 0 {
		return d
	}
	delete(h.until, key)
	h.n.Store(int32(len(h.until)))
	return 0
}

func (h *holds) hold(key string, until, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[string]time.Time{}
	}
	if len(h.until) >= maxHeld {
		for k, u := range h.until {
			if !u.After(now) {
				delete(h.until, k)
			}
		}
		if len(h.until) >= maxHeld {
			return // too many at once: ask again rather than grow
		}
	}
	h.until[key] = until
	h.n.Store(int32(len(h.until)))
}

// retryAfter parses Retry-After (seconds or an HTTP date) into a wait,
// defaultRetryAfter when absent or unreadable, capped at limit so a bogus
// value cannot keep an object from being revalidated for hours.
func retryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	d := defaultRetryAfter
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		d = time.Duration(min(secs, int64(limit/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = max(at.Sub(now), 0)
	}
	return min(d, limit)
}

// holdTransport keeps nora from revalidating a URL (HEAD, or a GET with
// If-None-Match or If-Modified-Since: nora holds a copy) before the
// Retry-After of the upstream's 429 for it has passed: meanwhile it answers
// 429 itself, with the time left, so the caller does what it does with an
// upstream 429 and serves its copy stale. A request for what nora does not
// hold still goes out and gets the upstream's own answer.
type holdTransport struct {
	next    http.RoundTripper
	holds   holds
	limit   time.Duration // RetryAfterMax
	now     func() time.Time
	limited *metrics.Counter // 429 answers from the upstream
	held    *metrics.Counter // requests answered 429 without asking it
}

// newHoldTransport puts the hold in front of next, unless limit is 0.
func newHoldTransport(next http.RoundTripper, limit time.Duration, m *registryMetrics, now func() time.Time) http.RoundTripper {
	if limit <= 0 {
		return next
	}
	return &holdTransport{next: next, limit: limit, now: now,
		limited: m.set.GetOrCreateCounter(`nora_upstream_rate_limited_total{upstream="` + m.label + `"}`),
		held:    m.set.GetOrCreateCounter(`nora_upstream_held_total{upstream="` + m.label + `"}`),
	}
}

func (t *holdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.URL.String()
	now := t.now()
	if d := t.holds.left(key, now); d > 0 && revalidation(req) {
		t.held.Inc()
		return heldResponse(req, d), nil
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.limited.Inc()
		if d := retryAfter(resp.Header.Get("Retry-After"), now, t.limit); d > 0 {
			t.holds.hold(key, now.Add(d), now)
		}
	}
	return resp, err
}

func heldResponse(req *http.Request, left time.Duration) *http.Response {
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(left.Seconds())), 10))
	return &http.Response{
		Status:     "429 Too Many Requests",
		StatusCode: http.StatusTooManyRequests,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  h,
		Body:    http.NoBody,
		Request: req,
	}
}

// revalidation reports whether req asks about something nora holds.
func revalidation(req *http.Request) bool {
	return req.Method == http.MethodHead || req.Header.Get("If-None-Match") != "" ||
		req.Header.Get("If-Modified-Since") != ""
}
