package upstream

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
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
