package admin

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestValidateSchedule(t *testing.T) {
	f := func(expr, wantErr string) {
		t.Helper()
		err := ValidateSchedule(expr)
		if (wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ValidateSchedule(%q) = %v, want %q", expr, err, wantErr)
		}
	}
	f("", "")
	f("0 3 * * *", "")
	f("*/15 * * * 1-5", "")
	f("@daily", "")
	f("CRON_TZ=UTC 0 3 * * *", "")
	f("0 3 * *", `want a cron expression such as "0 3 * * *"`)
	f("0 0 3 * * *", "want a cron expression") // seconds are not a field
	f("61 * * * *", "want a cron expression")
	f("0 0 30 2 *", "never fires")
	f("TZ=UTC", "cannot parse")
}

func TestDue(t *testing.T) {
	next := time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)
	f := func(now time.Time, wantFire, wantMissed bool) {
		t.Helper()
		if fire, missed := due(next, now); fire != wantFire || missed != wantMissed {
			t.Errorf("due at %v: fire %v missed %v", now, fire, missed)
		}
	}
	f(next.Add(-time.Minute), false, false)
	f(next, true, false)
	f(next.Add(time.Minute), true, false)
	f(next.Add(lateness), true, false)
	f(next.Add(time.Hour), false, true) // the clock jumped
}

// A tick runs retention, then GC, for real.
func TestScheduleRunsJobs(t *testing.T) {
	order := &orderLog{}
	gc, retention := newFakeJob("gc", false), newFakeJob("retention", false)
	gc.order, retention.order = order, order
	ticks := make(chan time.Time)
	s := startServer(t, Options{
		Schedule: "0 3 * * *",
		ticks:    ticks,
		Jobs:     map[string]Job{"gc": gc.run, "retention": retention.run},
	})
	ticks <- time.Now()
	c := NewClient(s.Socket())
	waitDone(t, c, "gc") // polls until gc has run: retention ran before it
	if order.String() != "retention,gc" {
		t.Errorf("order: %v", order)
	}
	if d := gc.dryRuns(); len(d) != 1 || d[0] {
		t.Errorf("gc dry runs: %v", d)
	}
	if d := retention.dryRuns(); len(d) != 1 || d[0] {
		t.Errorf("retention dry runs: %v", d)
	}
}

// A tick while GC runs by hand runs nothing.
func TestScheduleSkipsWhileRunning(t *testing.T) {
	gc, retention := newFakeJob("gc", true), newFakeJob("retention", false)
	s := startServer(t, Options{Jobs: map[string]Job{"gc": gc.run, "retention": retention.run}})
	if _, err := NewClient(s.Socket()).Start(context.Background(), "gc", true); err != nil {
		t.Fatal(err)
	}
	<-gc.started
	err := s.runScheduled(context.Background())
	if err == nil || err.Error() != "scheduled retention skipped: gc is running" {
		t.Errorf("runScheduled while gc runs: %v", err)
	}
	close(gc.gate)
	waitDone(t, NewClient(s.Socket()), "gc")
	if d := retention.dryRuns(); len(d) != 0 {
		t.Errorf("retention ran: %v", d)
	}
	if d := gc.dryRuns(); len(d) != 1 {
		t.Errorf("gc runs: %v", d)
	}
}

func TestScheduleRefused(t *testing.T) {
	if _, err := New(Options{Socket: t.TempDir() + "/a.sock", Schedule: "tomorrow"}); err == nil || !strings.HasPrefix(err.Error(), "gc schedule: ") {
		t.Errorf("bad schedule: %v", err)
	}
}
