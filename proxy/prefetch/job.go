package prefetch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"nora/internal/fault"
)

// Job states.
const (
	Running = "running"
	Done    = "done"
)

// State is the JSON of the current or last prefetch: its progress while
// it runs, its summary once done.
type State struct {
	State    string     `json:"state"` // Running or Done
	Trigger  string     `json:"trigger"`
	Platform string     `json:"platform,omitempty"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Progress struct {
		Done  int64 `json:"done"`
		Total int64 `json:"total"`
		Bytes int64 `json:"bytes"`
	} `json:"progress"`
	Summary *Summary `json:"summary,omitempty"`
}

// Summary counts the outcomes and lists every item's.
type Summary struct {
	Fetched int      `json:"fetched"`
	Cached  int      `json:"cached"`
	Failed  int      `json:"failed"`
	Items   []Result `json:"items"`
}

// Service runs one prefetch at a time and keeps the last one's outcome.
type Service struct {
	o   Options
	log *slog.Logger
	ctx context.Context // the server's lifetime
	wg  sync.WaitGroup

	mu  sync.Mutex
	cur *job
}

type job struct {
	st  State // Progress and Summary are filled in by state
	pr  Progress
	sum *Summary
}

// NewService runs prefetches with o (its Platform is ignored: each Start
// names its own) until ctx ends.
func NewService(ctx context.Context, o Options, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, log: log, ctx: ctx}
}

// Start runs items in the background; trigger says who asked ("api",
// "schedule"). A prefetch already running is a fault.Conflict.
func (s *Service) Start(items []Item, platform, trigger string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.sum == nil {
		return s.stateLocked(), fault.New(fault.Conflict, "a prefetch is running; one runs at a time")
	}
	if s.ctx.Err() != nil {
		return State{}, fault.New(fault.Unavailable, "the server is shutting down")
	}
	j := &job{st: State{State: Running, Trigger: trigger, Platform: platform, Started: time.Now()}}
	j.st.Progress.Total = int64(len(items))
	s.cur = j
	o := s.o
	o.Platform = platform
	s.wg.Go(func() {
		log := s.log.With("trigger", trigger, "items", len(items))
		log.Info("prefetch started")
		res := Run(s.ctx, items, o, &j.pr)
		sum := &Summary{Items: res}
		for _, r := range res {
			switch r.Status {
			case Fetched:
				sum.Fetched++
			case Cached:
				sum.Cached++
			default:
				sum.Failed++
			}
		}
		s.mu.Lock()
		now := time.Now()
		j.st.State, j.st.Finished, j.sum = Done, &now, sum
		s.mu.Unlock()
		log.Info("prefetch done", "fetched", sum.Fetched, "cached", sum.Cached, "failed", sum.Failed,
			"bytes", j.pr.Bytes(), "took", now.Sub(j.st.Started).Round(time.Millisecond))
	})
	return s.stateLocked(), nil
}

// State is the current or last prefetch; false if none ran.
func (s *Service) State() (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return State{}, false
	}
	return s.stateLocked(), true
}

func (s *Service) stateLocked() State {
	st := s.cur.st
	st.Progress.Done, st.Progress.Bytes = s.cur.pr.Done(), s.cur.pr.Bytes()
	st.Summary = s.cur.sum
	return st
}

// Wait waits for a running prefetch to return (it ends with the context
// NewService was given).
func (s *Service) Wait() { s.wg.Wait() }
