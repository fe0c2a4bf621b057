package upstream

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// backoff is the wait before retry n (0-based): base*2^n capped at limit,
// with "equal jitter" (half fixed, half random) so that clients that failed
// together do not retry together.
func backoff(n int, base, limit time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	limit = max(limit, base)
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// retryTransport retries GET and HEAD after a failure to get an answer or
// a 5xx, with backoff, up to retries times, unless stop says no attempt
// can go out now (the breaker opened). The last answer or error is the
// caller's.
type retryTransport struct {
	next        http.RoundTripper
	retries     int
	base, limit time.Duration
	stop        func() bool
	log         *slog.Logger
	counter     *metrics.Counter
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if !idempotent(req.Method) || attempt >= t.retries || !retriable(resp, err) || t.stop() {
			return resp, err
		}
		reason := ""
		if err != nil {
			reason = err.Error()
		} else {
			reason = resp.Status
			drain(resp.Body)
		}
		wait := backoff(attempt, t.base, t.limit)
		t.log.Debug("retrying upstream request", "method", req.Method, "path", req.URL.Path, "reason", reason, "wait", wait)
		t.counter.Inc()
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// retriable: no answer from the upstream (not its breaker saying no), or
// a 5xx other than a loop (asking again goes round again).
func retriable(resp *http.Response, err error) bool {
	if err != nil {
		return IsUnavailable(err) && !errors.Is(err, ErrBreakerOpen)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != StatusLoopDetected
}
