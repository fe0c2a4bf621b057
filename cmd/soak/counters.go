package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// followed are the counters of nora's /metrics that show how it met the
// faults: what it served stale, how often it retried an upstream, what
// it asked upstreams at all.
var followed = []struct {
	name, metric string
	labels       []string
}{
	{"stale answers", "nora_cache_requests_total", []string{`result="stale"`}},
	{"upstream requests", "nora_upstream_requests_total", nil},
	{"upstream retries", "nora_upstream_retries_total", nil},
	{"upstream 4xx answers", "nora_upstream_requests_total", []string{`status="4xx"`}},
	{"upstream 5xx answers", "nora_upstream_requests_total", []string{`status="5xx"`}},
	{"upstream connection errors", "nora_upstream_requests_total", []string{`status="error"`}},
}

// Counters follows nora's counters across restarts: each process counts
// from 0, so the last value a process reported is banked when the pid
// changes (what it counted in its last second is lost: the totals are
// lower bounds). It also keeps how many upstream breakers were open at
// once, at most.
type Counters struct {
	mu              sync.Mutex
	pid             int
	banked, current map[string]float64
	breakers        float64
}

// WatchCounters scrapes nora every interval until ctx ends.
func WatchCounters(ctx context.Context, g *Generator, pid func() int, every time.Duration) *Counters {
	cs := &Counters{banked: map[string]float64{}, current: map[string]float64{}}
	c := g.newClient(-4)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			// A scrape that a restart may have split between two
			// processes is dropped.
			p := pid()
			if m, err := c.scrape(ctx); err == nil && pid() == p {
				cs.note(p, m)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return cs
}

func (cs *Counters) note(pid int, m map[string]float64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if pid != cs.pid {
		for k, v := range cs.current {
			cs.banked[k] += v
		}
		cs.current, cs.pid = map[string]float64{}, pid
	}
	for _, f := range followed {
		if v, ok := sum(m, f.metric, f.labels...); ok {
			cs.current[f.name] = v
		}
	}
	if v, ok := sum(m, "nora_upstream_breaker_open"); ok {
		cs.breakers = max(cs.breakers, v)
	}
}

// String is the totals, one "name N" each.
func (cs *Counters) String() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var out []string
	for _, f := range followed {
		out = append(out, fmt.Sprintf("%s %.0f", f.name, cs.banked[f.name]+cs.current[f.name]))
	}
	sort.Strings(out)
	return strings.Join(out, ", ") + fmt.Sprintf("; upstream breakers open at once, at most: %.0f", cs.breakers)
}
