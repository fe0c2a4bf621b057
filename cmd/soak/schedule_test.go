package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Faults that remembers what was switched.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) note(s string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s+map[bool]string{true: " on", false: " off"}[on])
}

func (r *recorder) Slow(on bool)        { r.note("slow", on) }
func (r *recorder) Lossy(on bool)       { r.note("lossy", on) }
func (r *recorder) RateLimited(on bool) { r.note("rate-limited", on) }
func (r *recorder) Failing(on bool)     { r.note("failing", on) }

// TestScheduleRunsEveryPhase: every fault goes on and off, and both kills
// run, even while a kill (its restart and checks) outlasts the phases
// after it.
func TestScheduleRunsEveryPhase(t *testing.T) {
	r := &recorder{}
	kill := func() { r.note("kill", true); time.Sleep(300 * time.Millisecond) }
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	log := RunSchedule(Schedule(time.Second, r, kill), time.Now(), stop)
	got := strings.Join(r.got, ",")
	for _, want := range []string{"slow on", "slow off", "lossy on", "lossy off", "rate-limited on", "rate-limited off", "failing on", "failing off"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %s", want, got)
		}
	}
	if n := strings.Count(got, "kill"); n != 2 || len(log) != 6 {
		t.Errorf("%d kills in %s; log %q", n, got, log)
	}
}
