package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// stats collects the outcome of every operation.
type stats struct {
	mu      sync.Mutex
	kinds   map[string]*kindStats
	order   []string
	samples []string // the first errors, for the report
}

type kindStats struct {
	ops, errors, unavailable int64
	took                     []time.Duration
}

func newStats() *stats { return &stats{kinds: map[string]*kindStats{}} }

func (s *stats) record(k Kind, took time.Duration, err error, unavailable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.kinds[k.Name]
	if ks == nil {
		ks = &kindStats{}
		s.kinds[k.Name] = ks
		s.order = append(s.order, k.Name)
	}
	ks.ops++
	ks.took = append(ks.took, took)
	switch {
	case err == nil:
	case unavailable:
		ks.unavailable++
	default:
		ks.errors++
		if len(s.samples) < 20 {
			s.samples = append(s.samples, k.Name+": "+err.Error())
		}
	}
}

// Report is what a soak run found.
type Report struct {
	Duration time.Duration
	Clients  int
	Kinds    []KindReport
	// Requests counts HTTP attempts, Retries the ones a client repeated
	// (connection errors, 429, 502-504).
	Requests, Retries int64
	// ReAuths counts operations rerun because nora refused a registry
	// token it had issued before a restart.
	ReAuths int64
	// RetryCauses lists the retries by cause ("503 x12, connection x3").
	RetryCauses  string
	ErrorSamples []string
	// Kills of nora (kill -9, then a restart on the same data), and the
	// checks after each restart of what had been acknowledged before it.
	Kills, Verified, Lost int
	SlowestRestart        time.Duration // from the kill to /health answering
	Phases                []string      // the fault schedule as it ran
	// Injected says what the fault proxies did, Nora what nora counted
	// of it (Counters).
	Injected, Nora string
	// nora's process: resident set (max over the run, KiB), descriptors
	// and goroutines after the warm-up and at the end, connections
	// settled.
	Peak                       Memory
	PeakAt                     time.Time
	Timeline                   []Memory // from the warm-up on, a sample every TimelineStep
	TimelineStep               time.Duration
	Started                    time.Time // of the measured run
	Start, End                 Sample
	UpstreamBytes, ClientBytes int64
}

// KindReport is one kind of operation: an install, a pull, a publish,
// with every request it made.
type KindReport struct {
	Name                     string
	Ops, Errors, Unavailable int64
	P50, P99                 time.Duration
}

// Errors counts the operations that failed and the acknowledged writes
// lost after a restart.
func (r *Report) Errors() int64 {
	n := int64(r.Lost)
	for _, k := range r.Kinds {
		n += k.Errors
	}
	return n
}

func (s *stats) fill(r *Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.order {
		ks := s.kinds[name]
		slices.Sort(ks.took)
		q := func(p float64) time.Duration { return ks.took[int(p*float64(len(ks.took)-1))] }
		r.Kinds = append(r.Kinds, KindReport{Name: name, Ops: ks.ops, Errors: ks.errors, Unavailable: ks.unavailable,
			P50: q(0.50), P99: q(0.99)})
	}
	r.ErrorSamples = append(r.ErrorSamples, s.samples...)
}

func (r *Report) String() string {
	var b strings.Builder
	var ops int64
	fmt.Fprintf(&b, "soak: %s, %d clients\n", r.Duration.Round(time.Second), r.Clients)
	fmt.Fprintf(&b, "  %-16s %8s %7s %7s %10s %10s\n", "kind", "ops", "errors", "unavail", "p50", "p99")
	for _, k := range r.Kinds {
		ops += k.Ops
		fmt.Fprintf(&b, "  %-16s %8d %7d %7d %10s %10s\n", k.Name, k.Ops, k.Errors, k.Unavailable,
			k.P50.Round(100*time.Microsecond), k.P99.Round(100*time.Microsecond))
	}
	fmt.Fprintf(&b, "  total: %d operations (%.0f/s), %d HTTP requests, %d retried (%s), %d errors\n",
		ops, float64(ops)/r.Duration.Seconds(), r.Requests, r.Retries, r.RetryCauses, r.Errors())
	if r.Kills > 0 {
		fmt.Fprintf(&b, "  kill -9 and restart: %d (slowest %s to healthy); acknowledged writes checked after restarts: %d, lost or partial: %d; operations rerun for a registry token voided by a restart: %d\n",
			r.Kills, r.SlowestRestart.Round(time.Millisecond), r.Verified, r.Lost, r.ReAuths)
	}
	f0, g0 := r.Start.Own()
	f1, g1 := r.End.Own()
	fmt.Fprintf(&b, "  nora RSS max %.1f MiB at %.1fs (anonymous max %.1f, file-backed max %.1f); open fds %d -> %d, goroutines %d -> %d (all: fds %d -> %d, sockets %d -> %d, upstream connections %d -> %d, goroutines %d -> %d)\n",
		mib(r.Peak.RSS), r.PeakAt.Sub(r.Started).Seconds(), mib(r.Peak.Anon), mib(r.Peak.File), f0, f1, g0, g1, r.Start.FDs, r.End.FDs, r.Start.Sockets, r.End.Sockets,
		r.Start.Upstream, r.End.Upstream, r.Start.Goroutines, r.End.Goroutines)
	if len(r.Timeline) > 0 {
		fmt.Fprintf(&b, "  nora RSS (anonymous) MiB every %s from the warm-up:", r.TimelineStep)
		for _, m := range r.Timeline {
			fmt.Fprintf(&b, " %.0f (%.0f)", mib(m.RSS), mib(m.Anon))
		}
		b.WriteString("\n")
	}
	if r.UpstreamBytes > 0 {
		fmt.Fprintf(&b, "  upstream bytes %d / client bytes %d = %.3f\n", r.UpstreamBytes, r.ClientBytes, r.UpstreamRatio())
	}
	if r.Injected != "" {
		fmt.Fprintf(&b, "  faults injected: %s\n", r.Injected)
	}
	if r.Nora != "" {
		fmt.Fprintf(&b, "  nora counted: %s\n", r.Nora)
	}
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "  phase %s\n", p)
	}
	for _, e := range r.ErrorSamples {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	return b.String()
}

// UpstreamRatio is upstream bytes per byte the clients read.
func (r *Report) UpstreamRatio() float64 {
	if r.ClientBytes == 0 {
		return 0
	}
	return float64(r.UpstreamBytes) / float64(r.ClientBytes)
}

// Report gathers what the generator measured; the caller adds nora's
// process figures.
func (g *Generator) Report(d time.Duration) *Report {
	r := &Report{Duration: d, Clients: g.clients, Requests: g.wire.requests.Load(), Retries: g.wire.retries.Load(),
		ReAuths: g.reauths.Load(), RetryCauses: g.wire.causes(),
		ClientBytes: g.wire.bytes.Load()}
	g.stats.fill(r)
	return r
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
