package tenant

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"nora/auth"
	"nora/internal/fault"
)

// admit counts a request of id from addr against t's limit of its
// action and, an anonymous pull, addr's.
func (s *Set) admit(t *Tenant, id *auth.Identity, addr netip.Addr, action auth.Action) error {
	k := kindOf(action)
	lim := t.push
	if k == kindPull {
		lim = t.pull
	}
	now := s.now()
	var err error
	if id == nil && k == kindPull && s.anon != nil {
		err = s.anon.admit(addr, now, t, lim)
	} else {
		err = t.take(lim, k, now)
	}
	if err != nil {
		t.count(k, resultRateLimited)
		return err
	}
	t.count(k, resultOK)
	return nil
}

// take spends one request of lim (nil: no limit).
func (t *Tenant) take(lim *rate.Limiter, k kind, now time.Time) error {
	if lim == nil || lim.AllowN(now, 1) {
		return nil
	}
	which := "push"
	if k == kindPull {
		which = "pull"
	}
	return &fault.Error{Kind: fault.RateLimited, RetryAfter: retryAfter(lim, now),
		Msg: fmt.Sprintf("tenant %s has reached its %s rate limit of %d requests per hour", t.name, which, lim.Burst())}
}

// retryAfter is the whole seconds until lim has a request again, at
// least 1.
func retryAfter(lim *rate.Limiter, now time.Time) int {
	short := 1 - lim.TokensAt(now)
	secs := math.Ceil(short / float64(lim.Limit()))
	if secs < 1 || math.IsNaN(secs) {
		return 1
	}
	return int(min(secs, math.MaxInt32))
}
