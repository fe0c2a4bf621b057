package main

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Faults switches the upstream faults of a soak on and off.
type Faults interface {
	Slow(on bool)        // latency and a bandwidth limit
	Lossy(on bool)       // lost packets: connections cut or stalled
	RateLimited(on bool) // 429 with Retry-After
	Failing(on bool)     // a 5xx storm
}

// Phase is one fault over [At, At+For); a kill is a phase of no length.
type Phase struct {
	Name    string
	At, For time.Duration
	On, Off func()
}

// cycle is the 60-second pattern of faults; longer runs repeat it,
// shorter ones shrink it. Each fault is on for a while and then off, and
// nora is killed twice a cycle, away from the faults' edges.
var cycle = []struct {
	name    string
	at, dur time.Duration
}{
	{"slow", 4 * time.Second, 8 * time.Second},
	{"kill", 16 * time.Second, 0},
	{"lossy", 20 * time.Second, 7 * time.Second},
	{"rate-limited", 29 * time.Second, 7 * time.Second},
	{"kill", 38 * time.Second, 0},
	{"failing", 42 * time.Second, 7 * time.Second},
}

// Schedule lays the cycle over a run of length d: faults through f, kills
// through kill (which restarts nora before it returns).
func Schedule(d time.Duration, f Faults, kill func()) []Phase {
	const length = 60 * time.Second
	scale := min(1, float64(d)/float64(length))
	switches := map[string]func(bool){"slow": f.Slow, "lossy": f.Lossy, "rate-limited": f.RateLimited, "failing": f.Failing}
	var ps []Phase
	for start := time.Duration(0); start+time.Duration(scale*float64(length)) <= d; start += time.Duration(scale * float64(length)) {
		for _, c := range cycle {
			p := Phase{Name: c.name, At: start + time.Duration(scale*float64(c.at)), For: time.Duration(scale * float64(c.dur))}
			if sw := switches[c.name]; sw != nil {
				p.On, p.Off = func() { sw(true) }, func() { sw(false) }
			} else {
				p.On, p.Off = kill, func() {}
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// RunSchedule runs the phases from start until stop, each in its own
// goroutine, and returns a log of what ran when; a phase cut by stop is
// switched off. The times count from start, not from the call: on a
// loaded box the goroutine that calls it may start late.
func RunSchedule(ps []Phase, start time.Time, stop <-chan struct{}) []string {
	var mu sync.Mutex
	var log []string
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-stop:
				return
			case <-time.After(time.Until(start.Add(p.At))):
			}
			on := time.Since(start)
			p.On()
			select {
			case <-stop:
			case <-time.After(p.For):
			}
			p.Off()
			mu.Lock()
			log = append(log, fmt.Sprintf("%6.1fs .. %6.1fs %s", on.Seconds(), time.Since(start).Seconds(), p.Name))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(log)
	return log
}
