package tenant

import (
	"container/list"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"nora/internal/fault"
)

// anonymousAddresses bounds the client addresses remembered: the least
// recently seen are forgotten first (and start again with a full limit).
const anonymousAddresses = 10_000

// anonymous limits anonymous pulls per client address.
type anonymous struct {
	perMinute int
	size      int
	mu        sync.Mutex
	m         map[netip.Addr]*list.Element // of *addrLimiter
	order     *list.List                   // most recent at the front
}

type addrLimiter struct {
	key netip.Addr
	lim *rate.Limiter
}

func newAnonymous(perMinute, size int) *anonymous {
	return &anonymous{perMinute: perMinute, size: max(size, 1), m: map[netip.Addr]*list.Element{}, order: list.New()}
}

// addrKey is the address a client counts as: an IPv6 client by its /64,
// which one host usually holds whole; an invalid address is the zero
// Addr, one limiter shared by all such.
func addrKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// admit spends one pull of addr's limit and one of t's limit lim (nil:
// none), or neither: t's is spent only when addr's has one left, and
// addr's only when t's could be spent. Holding a.mu makes addr's check
// and spend one step.
func (a *anonymous) admit(addr netip.Addr, now time.Time, t *Tenant, lim *rate.Limiter) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.get(addrKey(addr))
	if l.TokensAt(now) < 1 {
		return &fault.Error{Kind: fault.RateLimited, RetryAfter: retryAfter(l, now),
			Msg: fmt.Sprintf("too many anonymous requests from this address (limit %d per minute)", a.perMinute)}
	}
	if err := t.take(lim, kindPull, now); err != nil {
		return err
	}
	l.AllowN(now, 1)
	return nil
}

// get is key's limiter, made if new, marked most recent.
func (a *anonymous) get(key netip.Addr) *rate.Limiter {
	if e, ok := a.m[key]; ok {
		a.order.MoveToFront(e)
		return e.Value.(*addrLimiter).lim
	}
	if a.order.Len() >= a.size {
		oldest := a.order.Back()
		a.order.Remove(oldest)
		delete(a.m, oldest.Value.(*addrLimiter).key)
	}
	l := &addrLimiter{key: key, lim: rate.NewLimiter(rate.Limit(float64(a.perMinute)/60), a.perMinute)}
	a.m[key] = a.order.PushFront(l)
	return l.lim
}
