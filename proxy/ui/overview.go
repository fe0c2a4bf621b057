package ui

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"nora/proxy/stats"
	"nora/upstream"
)

// overviewView is what the overview shows.
type overviewView struct {
	Disk      diskView
	Today     periodView
	Month     periodView
	Upstreams []upstreamView
	Top       []topView
	Errors    []stats.Failure
	More      bool // more errors than shown: link to the errors page
	Linked    bool // names link to their content pages
}

type diskView struct {
	Known     bool // the store answered
	Error     string
	Used      int64
	Proxied   int64
	Hosted    int64
	Objects   int64
	Cap       int64 // [storage] max_size; 0: none
	UsedRatio float64
	Free      int64 // -1: the store cannot tell
}

type periodView struct {
	Name     string
	Total    countsView
	ByFormat []countsView
}

type countsView struct {
	Format        string
	Requests      int64
	RequestsRatio string
	BytesRatio    string
	Saved         int64
	Fetched       int64
}

type topView struct {
	Format string
	Names  []stats.Pulled
}

// errorsShown is how many of the last errors the overview shows.
const errorsShown = 10

func (h *Handler) overview(ctx *fasthttp.RequestCtx, visible Visible) overviewView {
	v := overviewView{Disk: h.disk(ctx), Upstreams: h.upstreams(), Linked: h.opts.Content != nil}
	v.Today = h.period("Today", h.opts.Stats.Today())
	v.Month = h.period("This month", h.opts.Stats.Month())
	for _, f := range h.opts.Formats {
		t := topView{Format: f}
		for _, p := range h.opts.Stats.Top(f) {
			if visible(f, p.Name) {
				t.Names = append(t.Names, p)
			}
		}
		v.Top = append(v.Top, t)
	}
	errs := h.opts.Stats.Errors()
	v.More = len(errs) > errorsShown
	v.Errors = errs[:min(len(errs), errorsShown)]
	return v
}

func (h *Handler) disk(ctx context.Context) diskView {
	if h.opts.Disk == nil {
		return diskView{}
	}
	s, err := h.opts.Disk(ctx)
	d := diskView{Known: true, Proxied: s.ProxiedBytes, Hosted: s.HostedBytes, Used: s.ProxiedBytes + s.HostedBytes,
		Objects: s.Objects, Cap: s.MaxSize, Free: s.FreeBytes}
	if err != nil {
		// Usage comes from the index; only free space needs the store.
		d.Error = err.Error()
	}
	if d.Cap > 0 {
		d.UsedRatio = float64(d.Used) / float64(d.Cap)
	}
	return d
}

func (h *Handler) period(name string, p stats.Period) periodView {
	v := periodView{Name: name, Total: counts("all", p.Total)}
	for _, f := range h.opts.Formats {
		v.ByFormat = append(v.ByFormat, counts(f, p.ByFormat[f]))
	}
	return v
}

func counts(format string, c stats.Counts) countsView {
	return countsView{Format: format, Requests: c.HitRequests + c.MissRequests,
		RequestsRatio: Percent(c.RequestRatio()), BytesRatio: Percent(c.ByteRatio()),
		Saved: c.SavedBytes(), Fetched: c.FetchedBytes()}
}

// upstreamView is one upstream's state for people.
type upstreamView struct {
	upstream.Status
	State       string // "up", "failing", "down", "recovering", "not used yet"
	Healthy     bool
	LastOK      time.Time
	LastErrAt   time.Time
	Budget      int // ratelimit remaining
	BudgetKnown bool
}

func (h *Handler) upstreams() []upstreamView {
	if h.opts.Upstreams == nil {
		return nil
	}
	var out []upstreamView
	for _, s := range h.opts.Upstreams() {
		u := upstreamView{Status: s}
		switch s.Breaker {
		case "open":
			u.State = "down"
		case "half-open":
			u.State = "recovering"
		default: // closed, or disabled: judged by the last answers
			switch {
			case s.LastErrorAt != nil && (s.LastSuccess == nil || s.LastErrorAt.After(*s.LastSuccess)):
				u.State = "failing"
			case s.LastSuccess == nil:
				u.State, u.Healthy = "not used yet", true
			default:
				u.State, u.Healthy = "up", true
			}
		}
		if s.LastSuccess != nil {
			u.LastOK = *s.LastSuccess
		}
		if s.LastErrorAt != nil {
			u.LastErrAt = *s.LastErrorAt
		}
		if s.RateLimitRemaining != nil {
			u.Budget, u.BudgetKnown = *s.RateLimitRemaining, true
		}
		out = append(out, u)
	}
	return out
}
