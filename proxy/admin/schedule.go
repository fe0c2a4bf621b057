package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ValidateSchedule checks a [gc] schedule: "" (none) or a standard cron
// expression of five fields, or a descriptor such as "@daily", that fires
// at some time.
func ValidateSchedule(expr string) error {
	_, err := parseSchedule(expr)
	return err
}

// parseSchedule returns nil for "".
func parseSchedule(expr string) (sched cron.Schedule, err error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	defer func() {
		// cron v3.0.1 slices out of range on a "TZ=..." without a space.
		if p := recover(); p != nil {
			sched, err = nil, fmt.Errorf("cannot parse cron expression %q", expr)
		}
	}()
	sched, err = cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("want a cron expression such as \"0 3 * * *\" (minute hour day month weekday), got %q: %v", expr, err)
	}
	// Next gives up after five years: "0 0 30 2 *" never fires.
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("cron expression %q never fires", expr)
	}
	return sched, nil
}

// scheduled are the jobs a tick of the schedule runs, in order: retention
// drops tags first so that GC collects what they referred to.
var scheduled = []string{"retention", "gc"}

// runScheduled runs the scheduled jobs one after the other, for real. It
// runs none, or stops, when a conflicting job is running: a GC started by
// hand does the work anyway, and the next tick catches up.
func (s *Server) runScheduled(ctx context.Context) error {
	for _, name := range scheduled {
		if _, ok := s.runner.jobs[name]; !ok {
			continue
		}
		if err := s.precheck(name); err != nil {
			// Another instance of a shared store runs it.
			s.log.Info("scheduled job left to another instance", "job", name, "reason", err)
			continue
		}
		ru, err := s.runner.start(name, false)
		if err != nil {
			return fmt.Errorf("scheduled %s skipped: %w", name, err)
		}
		select {
		case <-ru.end:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// scheduleLoop calls runScheduled on every tick until ctx ends.
func (s *Server) scheduleLoop(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		s.log.Info("scheduled run", "jobs", scheduled)
		if err := s.runScheduled(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("scheduled run", "err", err)
		}
	}
}

// cronTicks sends on the returned channel when sched is due, until ctx
// ends. A tick that finds the previous run still going is dropped.
func cronTicks(ctx context.Context, sched cron.Schedule, log *slog.Logger) <-chan time.Time {
	ch := make(chan time.Time)
	go func() {
		next := sched.Next(time.Now())
		for {
			// Wake at least every minute: timers run on the monotonic
			// clock, and a box without a real-time clock sets the wall
			// clock only when NTP answers.
			t := time.NewTimer(min(time.Until(next), time.Minute))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			now := time.Now()
			fire, missed := due(next, now)
			if !fire && !missed {
				continue
			}
			if missed {
				log.Warn("scheduled run missed: the clock jumped", "due", next, "now", now)
			} else {
				select {
				case ch <- now:
				default:
					log.Warn("scheduled run skipped: the previous one is still running", "due", next)
				}
			}
			next = sched.Next(now)
		}
	}()
	return ch
}

// lateness is how far past its time a tick still runs; later than that the
// wall clock jumped (or the machine slept), and a GC at an odd hour of the
// day would surprise more than one skipped.
const lateness = 2 * time.Minute

// due tells whether the tick at next should run now, or was missed.
func due(next, now time.Time) (fire, missed bool) {
	switch {
	case now.Before(next):
		return false, false
	case now.Sub(next) <= lateness:
		return true, false
	default:
		return false, true
	}
}
