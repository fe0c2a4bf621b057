package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// newTransport stacks what every request to one upstream goes through,
// outermost first: the answer's body counted and its rate limit noted, a
// URL an upstream 429 put on hold not asked again before its Retry-After,
// retries with backoff, the breaker (and health) judging each attempt,
// auth challenges answered, each exchange timed, the shared client.
func (r *Registry) newTransport() http.RoundTripper {
	var rt http.RoundTripper = clientTransport{r.c.http}
	rt = &meterTransport{next: rt, m: r.m}
	rt = &authTransport{next: rt, r: r}
	rt = &breakerTransport{next: rt, breaker: r.breaker, health: &r.health, now: r.now}
	rt = &retryTransport{next: rt, retries: r.c.cfg.Retries, base: r.c.cfg.RetryBackoff, limit: r.c.cfg.RetryBackoffMax,
		stop: r.breaker.isOpen, log: r.log, counter: r.m.retries}
	rt = newHoldTransport(rt, r.c.cfg.RetryAfterMax, r.m, r.now)
	rt = &rateTransport{next: rt, rate: &r.rate}
	return &countTransport{next: rt, counter: r.m.bytes}
}

// clientTransport sends a request through the shared client, which
// follows redirects. Failing to get an answer is unavailable, unless the
// caller gave up; URLs in its errors are redacted.
type clientTransport struct{ c *http.Client }

func (t clientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.c.Do(req)
	if err != nil {
		err = redactURL(err)
		if req.Context().Err() != nil || errors.Is(err, ErrPrivateAddress) {
			// A refused link is the upstream's doing, not its being down:
			// no retry, and the breaker does not count it.
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return resp, nil
}

// scopeKey carries the token scope a request needs to authTransport.
type scopeKey struct{}

func withScope(ctx context.Context, scope string) context.Context {
	return context.WithValue(ctx, scopeKey{}, scope)
}

func scopeOf(ctx context.Context) string {
	s, _ := ctx.Value(scopeKey{}).(string)
	return s
}

// breakerTransport lets an attempt out only while the breaker allows it,
// and tells the breaker and the health record how it went: an answer
// below 500 is a success; no answer or a 5xx a failure; a caller that gave
// up, or a request that could not be made, neither.
type breakerTransport struct {
	next    http.RoundTripper
	breaker *breaker
	health  *health
	now     func() time.Time
}

func (t *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	trial, ok := t.breaker.allow()
	if !ok {
		return nil, ErrBreakerOpen
	}
	resp, err := t.next.RoundTrip(req)
	switch ctx := req.Context(); {
	case ctx.Err() != nil:
		// The caller gave up: that says nothing about the upstream.
		t.breaker.release(trial)
		if resp != nil {
			resp.Body.Close()
		}
		return nil, ctx.Err()
	case err != nil && !IsUnavailable(err):
		t.breaker.release(trial) // our own mistake, not the upstream's
		return nil, err
	case err == nil && resp.StatusCode == StatusLoopDetected:
		t.breaker.release(trial) // a loop in the configuration, not an outage
		return resp, nil
	case err == nil && resp.StatusCode < 500:
		t.breaker.success()
		t.health.success(t.now())
		return resp, nil
	}
	t.breaker.failure()
	t.health.failure(t.now(), err, resp)
	return resp, err
}
