package httpx

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"
)

// GuardConfig sets how many failed logins a Guard lets through.
type GuardConfig struct {
	// PerAddress failures per Window (0: no limit) from one client address (an IPv6
	// client counts by its /64, which one host usually holds whole).
	PerAddress int
	// PerUser failures per Window for one user name, from anywhere (0:
	// no limit):
	// higher than PerAddress, so that one attacker locks out its own
	// address before it locks the user out of everywhere, while many
	// addresses guessing one password still meet a bound.
	PerUser int
	Window  time.Duration
	// Size bounds the addresses and the user names remembered, each: the
	// least recently failed are forgotten first.
	Size int
}

// DefaultGuardConfig is 10 failures a minute per address, 30 per user name.
func DefaultGuardConfig() GuardConfig {
	return GuardConfig{PerAddress: 10, PerUser: 30, Window: time.Minute, Size: 10_000}
}

// Guard limits failed logins per client address and per user name: once a
// limit is spent, logins from that address or for that user are refused
// (TooManyAttempts) before the password is checked, so that guessing
// costs the server nothing. Only failures are remembered. A nil *Guard
// limits nothing.
type Guard struct {
	cfg   GuardConfig
	mu    sync.Mutex
	addrs *limiters
	users *limiters
}

// NewGuard returns a Guard with the limits of cfg.
func NewGuard(cfg GuardConfig) *Guard {
	return &Guard{cfg: cfg, addrs: newLimiters(cfg.Size), users: newLimiters(cfg.Size)}
}

// guardKey is the user value holding the server's *Guard.
type guardKey struct{}

// Attach makes the logins of ctx count against g.
func (g *Guard) Attach(ctx *fasthttp.RequestCtx) { ctx.SetUserValue(guardKey{}, g) }

func guardOf(ctx *fasthttp.RequestCtx) *Guard {
	g, _ := ctx.UserValue(guardKey{}).(*Guard)
	return g
}

// maxUserKey bounds a remembered user name: longer ones share a limiter.
const maxUserKey = 128

// login is one login in progress: the limiters it counts against, or
// none for an address or user that has not failed yet.
type login struct {
	addr, user string
	held       [2]*limiter
}

// begin starts a login from addr for user. wait > 0 means it must not be
// tried: a limit is spent for that long. Logins under way count as
// failures until they end, so that parallel guesses cannot all pass one
// remaining token.
func (g *Guard) begin(addr netip.Addr, user string) (at login, wait time.Duration) {
	if g == nil {
		return login{}, 0
	}
	at = login{addr: addrKey(addr), user: userKey(user)}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, l := range [2]*limiter{g.addrs.get(at.addr), g.users.get(at.user)} {
		if l == nil {
			continue
		}
		if w := l.wait(now); w > wait {
			wait = w
		}
		at.held[i] = l
	}
	if wait > 0 {
		return login{}, wait
	}
	for _, l := range at.held {
		if l != nil {
			l.pending++
		}
	}
	return at, 0
}

// end finishes at: a failure spends a token of each limiter, made now for
// an address or user without one.
func (g *Guard) end(at login, ok bool) {
	if g == nil {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range at.held {
		if l != nil {
			l.pending--
		}
	}
	if ok {
		return
	}
	if g.cfg.PerAddress > 0 {
		g.addrs.add(at.addr, g.cfg.PerAddress, g.cfg.Window).lim.AllowN(now, 1)
	}
	if at.user != "" && g.cfg.PerUser > 0 {
		g.users.add(at.user, g.cfg.PerUser, g.cfg.Window).lim.AllowN(now, 1)
	}
}

func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func userKey(u string) string {
	if len(u) > maxUserKey {
		return u[:maxUserKey]
	}
	return u
}

// limiter is the failures of one address or user name.
type limiter struct {
	lim     *rate.Limiter
	pending int // logins under way
	elem    *list.Element
}

// wait is how long until a login may be tried: one token beyond those
// the logins under way may spend.
func (l *limiter) wait(now time.Time) time.Duration {
	short := float64(l.pending) + 1 - l.lim.TokensAt(now)
	if short <= 0 {
		return 0
	}
	return time.Duration(short / float64(l.lim.Limit()) * float64(time.Second))
}

// limiters is a bounded map of limiters, least recently failed evicted
// first. The Guard's mutex guards it.
type limiters struct {
	size  int
	m     map[string]*limiter
	order *list.List // of keys, most recent at the front
}

func newLimiters(size int) *limiters {
	return &limiters{size: max(size, 1), m: map[string]*limiter{}, order: list.New()}
}

func (ls *limiters) get(key string) *limiter { return ls.m[key] }

// add returns key's limiter, made with burst failures per window if new,
// and marks it most recent.
func (ls *limiters) add(key string, burst int, window time.Duration) *limiter {
	if l, ok := ls.m[key]; ok {
		ls.order.MoveToFront(l.elem)
		return l
	}
	if ls.order.Len() >= ls.size {
		// One with logins under way goes too: end holds it by pointer
		// and counts their failures in a new one.
		oldest := ls.order.Back()
		ls.order.Remove(oldest)
		delete(ls.m, oldest.Value.(string))
	}
	l := &limiter{lim: rate.NewLimiter(rate.Every(window/time.Duration(max(burst, 1))), burst)}
	l.elem = ls.order.PushFront(key)
	ls.m[key] = l
	return l
}
