package upstream

import (
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// breaker is a per-upstream circuit breaker: closed until `failures`
// consecutive failed attempts, then open (fail fast) for `cooldown`, then
// half-open: exactly one trial attempt decides between closed and open.
type breaker struct {
	failures int // 0 disables
	cooldown time.Duration
	log      *slog.Logger
	gauge    *metrics.Gauge
	now      func() time.Time

	mu       sync.Mutex
	state    breakerState
	count    int // consecutive failures while closed
	openedAt time.Time
	trial    bool // the half-open trial is in flight
}

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

func newBreaker(failures int, cooldown time.Duration, log *slog.Logger, gauge *metrics.Gauge, now func() time.Time) *breaker {
	gauge.Set(0)
	return &breaker{failures: failures, cooldown: cooldown, log: log, gauge: gauge, now: now}
}

// allow reports whether an attempt may go out; trial is true for the one
// half-open attempt, which must end in success, failure or release.
func (b *breaker) allow() (trial bool, ok bool) {
	if b.failures <= 0 {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		if b.now().Sub(b.openedAt) < b.cooldown {
			return false, false
		}
		b.state = halfOpen
		fallthrough
	case halfOpen:
		if b.trial {
			return false, false
		}
		b.trial = true
		return true, true
	}
	return false, true
}

func (b *breaker) success() {
	if b.failures <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != closed {
		b.log.Info("upstream is back, circuit breaker closed")
	}
	b.state, b.count, b.trial = closed, 0, false
	b.gauge.Set(0)
}

func (b *breaker) failure() {
	if b.failures <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case closed:
		b.count++
		if b.count < b.failures {
			return
		}
		b.log.Warn("upstream failing, circuit breaker open", "failures", b.count, "cooldown", b.cooldown)
	case halfOpen:
		b.log.Warn("upstream still failing, circuit breaker open again", "cooldown", b.cooldown)
	case open:
		return // a request that started before the breaker opened
	}
	b.state, b.openedAt, b.trial = open, b.now(), false
	b.gauge.Set(1)
}

// release ends a trial that proved nothing (the caller gave up), so the
// next attempt becomes the trial.
func (b *breaker) release(trial bool) {
	if !trial {
		return
	}
	b.mu.Lock()
	b.trial = false
	b.mu.Unlock()
}

func (b *breaker) isOpen() bool {
	if b.failures <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == open
}

// snapshot names the state for Status, with the time the breaker opened
// (zero while closed).
func (b *breaker) snapshot() (state string, openedAt time.Time) {
	if b.failures <= 0 {
		return "disabled", time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		return "open", b.openedAt
	case halfOpen:
		return "half-open", b.openedAt
	}
	return "closed", time.Time{}
}
