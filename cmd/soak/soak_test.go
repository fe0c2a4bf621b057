package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// soakConfig is the run's length (SOAK, a Go duration; 60s, 10s under
// -short) and its clients (SOAK_CLIENTS, default 500).
func soakConfig(t *testing.T) (time.Duration, int) {
	d := 60 * time.Second
	if testing.Short() {
		d = 10 * time.Second
	}
	if s := os.Getenv("SOAK"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK=%q: %v", s, err)
		}
		d = v
	}
	clients := 500
	if s := os.Getenv("SOAK_CLIENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SOAK_CLIENTS=%q: want a positive number", s)
		}
		clients = v
	}
	return d, clients
}

// TestSoak runs the generator against a nora child process with the five
// test upstreams behind fault proxies, switching each fault on and off
// and killing nora (kill -9, restart at once) while it runs; after each
// restart every acknowledged write must be served intact and every cut
// push be whole or absent. It wants no error, nora's descriptors and
// goroutines back where they were, RSS under 100 MB and fewer upstream
// bytes than client bytes.
// maxRSS is the bound on nora's resident set, 100 MB, in KiB.
const maxRSS = 100_000_000 / 1024

func TestSoak(t *testing.T) {
	d, clients := soakConfig(t)
	bin := buildNora(t)
	u := startUpstreams(t)
	p := startNora(t, bin, u)
	faults := &proxyFaults{u: u}
	g := New(Target{Base: p.base(), User: soakUser, Password: soakPassword, Content: u.content, Cold: u,
		UpstreamTrouble: faults.trouble}, clients)
	ctx := context.Background()
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	peak := RSSWatch(watch, p.pid, 250*time.Millisecond)
	if err := g.WarmUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := Settle(ctx, g, p.pid(), nil)
	upBefore, clientBefore := u.bytes(), g.wire.bytes.Load()

	var mu sync.Mutex
	var verified int
	var lost []string
	kill := func() {
		if err := p.kill9(); err != nil {
			mu.Lock()
			lost = append(lost, "restart: "+err.Error())
			mu.Unlock()
			return
		}
		n, errs := g.Verify(ctx, false)
		mu.Lock()
		defer mu.Unlock()
		verified += n
		for _, err := range errs {
			lost = append(lost, fmt.Sprintf("after kill %d: %v", p.killed(), err))
		}
	}
	stop := make(chan struct{})
	phases := make(chan []string)
	start := time.Now()
	go func() { phases <- RunSchedule(Schedule(d, faults, kill), start, stop) }()
	time.AfterFunc(d, func() { close(stop) })
	g.Run(stop)
	took := time.Since(start)
	log := <-phases
	faults.clear()
	stopWatch()

	// The end: everything acknowledged is still there, nora settles.
	n, errs := g.Verify(ctx, true)
	verified += n
	for _, err := range errs {
		lost = append(lost, "at the end: "+err.Error())
	}
	after := Settle(ctx, g, p.pid(), &before)

	r := g.Report(took)
	r.Started = start
	r.Phases, r.Kills, r.Verified, r.Lost = log, p.killed(), verified, len(lost)
	r.ErrorSamples = append(r.ErrorSamples, lost[:min(len(lost), 20)]...)
	r.Peak, r.PeakAt = peak.Get()
	r.Start, r.End = before, after
	r.UpstreamBytes, r.ClientBytes = u.bytes()-upBefore, g.wire.bytes.Load()-clientBefore
	t.Logf("\n%s", r)

	if e := r.Errors(); e != 0 {
		t.Errorf("%d errors", e)
	}
	if r.Kills < 2 {
		t.Errorf("%d kills in %s, want at least 2", r.Kills, d)
	}
	if !Flat(r.Start, r.End) {
		t.Errorf("descriptors or goroutines grew: %+v at the start, %+v at the end", r.Start, r.End)
	}
	if r.Peak.RSS == 0 || r.Peak.RSS > maxRSS {
		t.Errorf("nora's RSS peaked at %d KiB, want below 100 MB", r.Peak.RSS)
	}
	if ratio := r.UpstreamRatio(); ratio <= 0 || ratio >= 1 {
		t.Errorf("%.3f upstream bytes per client byte, want between 0 and 1 for a warm-heavy mix", ratio)
	}
}
