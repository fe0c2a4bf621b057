package main

import (
	"strings"
	"testing"
)

// TestCountersBankAcrossRestarts: a restarted nora counts from 0 again;
// the totals keep what the killed process had counted.
func TestCountersBankAcrossRestarts(t *testing.T) {
	cs := &Counters{banked: map[string]float64{}, current: map[string]float64{}}
	scrape := func(stale, retries, breakers float64) map[string]float64 {
		return map[string]float64{
			`nora_cache_requests_total{format="npm",result="stale"}`:    stale,
			`nora_cache_requests_total{format="npm",result="hit"}`:      1000,
			`nora_upstream_retries_total{upstream="npm"}`:               retries,
			`nora_upstream_retries_total{upstream="pypi"}`:              1,
			`nora_upstream_breaker_open{upstream="npm"}`:                breakers,
			`nora_upstream_requests_total{upstream="npm",status="4xx"}`: 2,
		}
	}
	cs.note(100, scrape(3, 5, 1))
	cs.note(100, scrape(7, 9, 0))
	cs.note(200, scrape(1, 0, 0)) // restarted
	got := cs.String()
	for _, want := range []string{"stale answers 8", "upstream retries 11", "upstream 4xx answers 4", "at most: 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
}

// TestFlatDiscountsUpstreamConnections: pooled upstream connections (a
// descriptor and two goroutines each) are not growth; anything else is.
func TestFlatDiscountsUpstreamConnections(t *testing.T) {
	start := Sample{FDs: 19, Sockets: 9, Upstream: 8, Goroutines: 56}
	f := func(end Sample, want bool) {
		t.Helper()
		if Flat(start, end) != want {
			t.Errorf("Flat(%+v, %+v) = %v", start, end, !want)
		}
	}
	f(Sample{FDs: 80, Sockets: 70, Upstream: 69, Goroutines: 176}, true)
	f(Sample{FDs: 19 + FDSlack + 1, Upstream: 8, Goroutines: 56}, false)
	f(Sample{FDs: 19, Upstream: 8, Goroutines: 56 + GoroutineSlack + 1}, false)
}
