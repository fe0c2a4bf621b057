package replicate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"nora/internal/fault"
)

// Request is a run asked of the server (POST /api/v1/replicate, a
// schedule): to or from a remote (or from a docker upstream's name).
type Request struct {
	To     string   `json:"to,omitempty"`
	From   string   `json:"from,omitempty"`
	Match  []string `json:"match"`
	DryRun bool     `json:"dry_run,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
}

// Check says what is wrong with r, as a fault.Invalid.
func (r Request) Check() error {
	if (r.To == "") == (r.From == "") {
		return fault.New(fault.Invalid, "replicate: name one of to and from")
	}
	_, err := parseGlobs(r.Match)
	return err
}

// Run states.
const (
	Running = "running"
	Done    = "done"
	Failed  = "failed" // the run could not start or was cut off
)

// State is the current or last run, as GET /api/v1/replicate shows it.
type State struct {
	Request  Request    `json:"request"`
	Trigger  string     `json:"trigger"` // "api" or "schedule"
	State    string     `json:"state"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	// Items is what the run copies (0 while it lists), Done how many are
	// done, Bytes what was sent so far.
	Items  int     `json:"items"`
	Done   int     `json:"done"`
	Bytes  int64   `json:"bytes"`
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Resolver turns a request into a run's options: its endpoints and
// movers.
type Resolver func(Request) (Options, error)

// Service runs one replication at a time inside the server, until its
// lifetime ends.
type Service struct {
	life    context.Context
	resolve Resolver
	log     *slog.Logger
	wg      sync.WaitGroup

	mu  sync.Mutex
	cur *State // nil: none ran yet
}

// NewService is a Service whose runs end with life.
func NewService(life context.Context, resolve Resolver, log *slog.Logger) *Service {
	return &Service{life: life, resolve: resolve, log: log}
}

// Start starts req; a run in progress is a fault.Conflict and the
// returned State is that run's.
func (s *Service) Start(req Request, trigger string) (State, error) {
	if err := req.Check(); err != nil {
		return State{}, err
	}
	o, err := s.resolve(req)
	if err != nil {
		return State{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.State == Running {
		return *s.cur, fault.New(fault.Conflict, "a replication is running")
	}
	st := &State{Request: req, Trigger: trigger, State: Running, Started: time.Now().UTC()}
	s.cur = st
	s.wg.Go(func() { s.run(st, o) })
	return *st, nil
}

// State is a copy of the current or last run; false if none ran.
func (s *Service) State() (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return State{}, false
	}
	st := *s.cur
	if st.Report != nil {
		rp := *st.Report
		st.Report = &rp
	}
	return st, true
}

// Wait waits for the run in progress (it ends with the lifetime).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) run(st *State, o Options) {
	o.DryRun, o.TargetPrefix = st.Request.DryRun, st.Request.Prefix
	o.Match = st.Request.Match
	o.Listed = func(items []Item) { s.update(func() { st.Items = len(items) }) }
	o.Progress = func(_ Item, n int64) { s.update(func() { st.Bytes += n }) }
	o.Done = func(Result) { s.update(func() { st.Done++ }) }
	rp, err := Run(s.life, o)
	now := time.Now().UTC()
	s.update(func() {
		st.Report, st.Finished, st.State = &rp, &now, Done
		if err != nil {
			st.State, st.Error = Failed, err.Error()
		}
	})
	s.log.Info("replication done", "to", st.Request.To, "from", st.Request.From, "trigger", st.Trigger,
		"copied", rp.Copied, "skipped", rp.Skipped, "failed", rp.Failed, "bytes", rp.Bytes, "err", err)
}

func (s *Service) update(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}
