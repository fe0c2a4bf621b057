package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Job is one long operation the admin API runs: GC, retention, reindex. It
// reports progress now and then (total 0 while unknown) and returns a
// result that is served as JSON. It must return soon after ctx ends.
type Job func(ctx context.Context, dryRun bool, progress func(done, total int64)) (any, error)

// Job states.
const (
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// JobState is the JSON of a job's current or last run.
type JobState struct {
	Name     string     `json:"name"`
	State    string     `json:"state"` // Running, Done or Failed
	DryRun   bool       `json:"dry_run"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Progress Progress   `json:"progress"`
	Result   any        `json:"result,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// Progress counts a run's work; Total is 0 while unknown.
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// exclusive jobs never run at the same time: GC must not sweep while
// retention drops tags (or the reverse), and neither may work on an index
// that reindex is rebuilding. Any job excludes a second run of itself.
var exclusive = map[string]bool{"gc": true, "retention": true, "reindex": true}

func conflicts(a, b string) bool { return a == b || exclusive[a] && exclusive[b] }

// errBusy is returned by start when a conflicting job runs; it carries
// that job's state.
type errBusy struct{ running JobState }

func (e errBusy) Error() string { return e.running.Name + " is running" }

var errClosed = errors.New("the server is shutting down")

// runner starts jobs by name and keeps each one's current or last run.
type runner struct {
	log  *slog.Logger
	jobs map[string]Job
	ctx  context.Context // cancelled by close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	runs   map[string]*run
	closed bool
}

type run struct {
	name    string
	dryRun  bool
	started time.Time
	done    atomic.Int64
	total   atomic.Int64
	end     chan struct{} // closed when the job has returned

	// set under runner.mu when the job returns
	finished time.Time
	result   any
	err      error
}

func newRunner(log *slog.Logger, jobs map[string]Job) *runner {
	ctx, stop := context.WithCancel(context.Background())
	return &runner{log: log, jobs: jobs, ctx: ctx, stop: stop, runs: map[string]*run{}}
}

// start runs the job name in the background unless a conflicting job is
// running (errBusy).
func (r *runner) start(name string, dryRun bool) (*run, error) {
	job, ok := r.jobs[name]
	if !ok {
		return nil, fmt.Errorf("no job %q", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	for other, ru := range r.runs {
		if conflicts(name, other) && ru.finished.IsZero() {
			return nil, errBusy{r.stateLocked(ru)}
		}
	}
	ru := &run{name: name, dryRun: dryRun, started: time.Now(), end: make(chan struct{})}
	r.runs[name] = ru
	r.wg.Add(1)
	go r.exec(job, ru)
	return ru, nil
}

func (r *runner) exec(job Job, ru *run) {
	defer r.wg.Done()
	defer close(ru.end)
	log := r.log.With("job", ru.name, "dry_run", ru.dryRun)
	log.Info("job started")
	res, err := func() (res any, err error) {
		// A bug in one job must not take the proxy down with it.
		defer func() {
			if p := recover(); p != nil {
				log.Error("job panicked", "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("internal error: %v", p)
			}
		}()
		return job(r.ctx, ru.dryRun, func(done, total int64) {
			ru.done.Store(done)
			ru.total.Store(total)
		})
	}()
	r.mu.Lock()
	ru.finished, ru.result, ru.err = time.Now(), res, err
	r.mu.Unlock()
	took := ru.finished.Sub(ru.started).Round(time.Millisecond)
	if err != nil {
		log.Error("job failed", "err", err, "took", took)
		return
	}
	log.Info("job done", "took", took)
}

// state returns the current or last run of name; false if none ran.
func (r *runner) state(name string) (JobState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ru, ok := r.runs[name]
	if !ok {
		return JobState{}, false
	}
	return r.stateLocked(ru), true
}

func (r *runner) stateOf(ru *run) JobState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stateLocked(ru)
}

func (r *runner) stateLocked(ru *run) JobState {
	s := JobState{
		Name:     ru.name,
		State:    Running,
		DryRun:   ru.dryRun,
		Started:  ru.started,
		Progress: Progress{Done: ru.done.Load(), Total: ru.total.Load()},
	}
	if !ru.finished.IsZero() {
		f := ru.finished
		s.Finished, s.State, s.Result = &f, Done, ru.result
		if ru.err != nil {
			s.State, s.Error = Failed, ru.err.Error()
		}
	}
	return s
}

// close cancels the running jobs and waits for them to return.
func (r *runner) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
}
