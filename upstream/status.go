package upstream

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Status is what nora knows of one upstream without asking it: the
// breaker, the last exchange that went well, the last that did not, and the
// rate limit it announced. /ready and `nora status` show it.
type Status struct {
	Name string `json:"name"`
	// Breaker is "closed", "open", "half-open" or "disabled". An open
	// breaker whose cooldown has passed stays "open" until the next request
	// becomes its trial.
	Breaker string `json:"breaker"`
	// OpenedAt is when the breaker last opened; set while it is not closed.
	OpenedAt *time.Time `json:"opened_at,omitempty"`
	// LastSuccess is the last answer below 500; nil: none since start.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// LastError is the last connect error, timeout or 5xx, and its time.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// RateLimitRemaining is the last ratelimit-remaining the upstream
	// sent; nil: it never sent one.
	RateLimitRemaining *int `json:"ratelimit_remaining,omitempty"`
}

// health is a Registry's record of its last success and failure.
type health struct {
	lastOK  atomic.Int64 // unix nanoseconds; 0: never
	lastErr atomic.Pointer[failure]
	up      *metrics.Gauge // nora_upstream_up: 1 after a success, 0 after a failure; nil: none
}

type failure struct {
	msg string
	at  time.Time
}

func (h *health) success(now time.Time) {
	h.lastOK.Store(now.UnixNano())
	if h.up != nil {
		h.up.Set(1)
	}
}

func (h *health) failure(now time.Time, err error, resp *http.Response) {
	msg := ""
	var ue *url.Error
	switch {
	case resp != nil:
		msg = "HTTP " + resp.Status
	case errors.As(err, &ue):
		// Without the URL: /ready is public, and the URL names the
		// repository that was asked for.
		msg = ue.Op + ": " + ue.Err.Error()
	default:
		msg = strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": ")
	}
	h.lastErr.Store(&failure{msg: msg, at: now})
	if h.up != nil {
		h.up.Set(0)
	}
}

// Status reports the upstream's state from memory.
func (r *Registry) Status() Status {
	s := Status{Name: r.name}
	var opened time.Time
	s.Breaker, opened = r.breaker.snapshot()
	if !opened.IsZero() {
		s.OpenedAt = &opened
	}
	if ns := r.health.lastOK.Load(); ns != 0 {
		t := time.Unix(0, ns)
		s.LastSuccess = &t
	}
	if f := r.health.lastErr.Load(); f != nil {
		at := f.at
		s.LastError, s.LastErrorAt = f.msg, &at
	}
	if n, ok := r.RateLimitRemaining(); ok {
		s.RateLimitRemaining = &n
	}
	return s
}

// Status reports every upstream this client made, sorted by name. Of two
// made under one name (cargo's download host when the index names a new
// one), the later is reported, as the metrics do.
func (c *Client) Status() []Status {
	c.mu.Lock()
	regs := slices.Clone(c.regs)
	c.mu.Unlock()
	out := make([]Status, 0, len(regs))
	for _, r := range regs {
		out = append(out, r.Status())
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// remember adds r to the upstreams Status reports.
func (c *Client) remember(r *Registry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, old := range c.regs {
		if old.name == r.name {
			c.regs[i] = r
			return
		}
	}
	c.regs = append(c.regs, r)
}
