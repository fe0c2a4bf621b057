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
// maxRSS is the bound on nora's resident set, 100 MB, in KiB. It
// bounds the anonymous part (heap, stacks): the file-backed rest, about
// 21 MiB, is the executable's text and the index's mmap, pages the kernel
// drops under pressure. The report shows both.
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
	record := max(5*time.Second, d/12)
	peak := RSSWatch(watch, p.pid, 250*time.Millisecond, record)
	counters := WatchCounters(watch, g, p.pid, time.Second)
	if err := g.WarmUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := Settle(ctx, g, p.pid(), nil)
	upBefore, clientBefore := u.bytes(), g.wire.bytes.Load()

	rs := &restarts{p: p, g: g}
	stop := make(chan struct{})
	phases := make(chan []string)
	start := time.Now()
	go func() { phases <- RunSchedule(Schedule(d, faults, rs.kill), start, stop) }()
	time.AfterFunc(d, func() { close(stop) })
	g.Run(stop)
	took := time.Since(start)
	log := <-phases
	faults.clear()
	stopWatch()
	// The end: everything acknowledged is still there, nora settles.
	rs.verify(ctx, true, "at the end")
	after := Settle(ctx, g, p.pid(), &before)

	r := g.Report(took)
	r.Started = start
	r.Injected, r.Nora = u.injected(), counters.String()
	r.Kills, r.SlowestRestart = p.killed()
	r.Phases, r.Verified, r.Lost = log, rs.verified, len(rs.lost)
	r.ErrorSamples = append(r.ErrorSamples, rs.lost[:min(len(rs.lost), 20)]...)
	r.Peak, r.PeakAt = peak.Get()
	r.Timeline, r.TimelineStep = peak.Timeline(), record
	r.Start, r.End = before, after
	r.UpstreamBytes, r.ClientBytes = u.bytes()-upBefore, g.wire.bytes.Load()-clientBefore
	t.Logf("\n%s", r)
	checkReport(t, r)
}

// restarts kills nora and checks, after each restart, what it had
// acknowledged.
type restarts struct {
	p        *noraProc
	g        *Generator
	mu       sync.Mutex
	verified int
	lost     []string
}

func (rs *restarts) kill() {
	if err := rs.p.kill9(); err != nil {
		rs.mu.Lock()
		rs.lost = append(rs.lost, "restart: "+err.Error())
		rs.mu.Unlock()
		return
	}
	n, _ := rs.p.killed()
	rs.verify(context.Background(), false, fmt.Sprintf("after kill %d", n))
}

func (rs *restarts) verify(ctx context.Context, all bool, when string) {
	n, errs := rs.g.Verify(ctx, all)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.verified += n
	for _, err := range errs {
		rs.lost = append(rs.lost, when+": "+err.Error())
	}
}

func checkReport(t *testing.T, r *Report) {
	if e := r.Errors(); e != 0 {
		t.Errorf("%d errors", e)
	}
	if r.Kills < 2 {
		t.Errorf("%d kills in %s, want at least 2", r.Kills, r.Duration)
	}
	if !Flat(r.Start, r.End) {
		t.Errorf("descriptors or goroutines grew: %+v at the start, %+v at the end", r.Start, r.End)
	}
	if r.Peak.Anon == 0 || r.Peak.Anon > maxRSS {
		t.Errorf("nora's anonymous RSS peaked at %d KiB, want below 100 MB", r.Peak.Anon)
	}
	if ratio := r.UpstreamRatio(); ratio <= 0 || ratio >= 1 {
		t.Errorf("%.3f upstream bytes per client byte, want between 0 and 1 for a warm-heavy mix", ratio)
	}
}
