package replicate

import (
	"context"
	"sync"
)

// Options is one run.
type Options struct {
	Source, Target Endpoint
	// Match holds globs "name:tag" or "name@version" ("/" separates name
	// segments, "*" stays within one); without a tag part every tag.
	Match  []string
	Movers []Mover
	DryRun bool
	// TargetPrefix is put before the names on the target ("local/mirror/").
	TargetPrefix string
	// Concurrency is the items copied at once (0: 2).
	Concurrency int
	// Progress, if not nil, hears of each item's bytes as they are sent,
	// and of each item's result when it is done (from several goroutines).
	Progress func(it Item, sent int64)
	Done     func(r Result)
	// Listed, if not nil, hears of the items a run will copy, before it
	// copies them.
	Listed func(items []Item)
}

// Status of one item in a Report.
const (
	StatusCopied  = "copied"
	StatusSkipped = "skipped" // the target had it whole
	StatusFailed  = "failed"
	StatusDry     = "would copy" // a dry run's item the target lacks
)

// Result is what became of one item.
type Result struct {
	Item
	Status string `json:"status"`
	// Reason says why it failed.
	Reason string `json:"reason,omitempty"`
	// Bytes is what was sent (or, in a dry run, would be).
	Bytes int64 `json:"bytes"`
}

// Report is a run's outcome: every item, and the totals.
type Report struct {
	Items   []Result `json:"items"`
	Copied  int      `json:"copied"`
	Skipped int      `json:"skipped"`
	Failed  int      `json:"failed"`
	Bytes   int64    `json:"bytes"`
}

// add counts r into the totals.
func (rp *Report) add(r Result) {
	rp.Items = append(rp.Items, r)
	switch r.Status {
	case StatusSkipped:
		rp.Skipped++
	case StatusFailed:
		rp.Failed++
	default:
		rp.Copied++
	}
	rp.Bytes += r.Bytes
}

// Run lists what matches on the source with every mover and copies it to
// the target. A listing or an item that fails is in the Report with its
// reason and the run goes on; the error is for a run that cannot start
// (bad patterns) or was cancelled.
func Run(ctx context.Context, o Options) (Report, error) {
	gs, err := parseGlobs(o.Match)
	if err != nil {
		return Report{}, err
	}
	o.Target.Prefix = o.TargetPrefix
	var rp Report
	var items []listed
	for _, m := range o.Movers {
		mg := forFormat(gs, m.Format())
		if len(mg) == 0 {
			continue
		}
		its, err := list(ctx, m, o.Source, mg)
		if err != nil {
			rp.add(Result{Item: Item{Format: m.Format(), Name: "*"}, Status: StatusFailed, Reason: reason(err)})
			continue
		}
		for _, it := range its {
			items = append(items, listed{m, it})
		}
	}
	if o.Listed != nil {
		its := make([]Item, len(items))
		for i, l := range items {
			its[i] = l.it
		}
		o.Listed(its)
	}
	for _, r := range copyAll(ctx, o, items) {
		rp.add(r)
	}
	return rp, ctx.Err()
}

// RepoLister is a Mover that can list named repositories without a
// catalog (an external registry has none): Run uses it when every pattern
// names its repository literally.
type RepoLister interface {
	ListRepos(ctx context.Context, src Endpoint, names []string, match func(name, version string) bool) ([]Item, error)
}

func list(ctx context.Context, m Mover, src Endpoint, gs []glob) ([]Item, error) {
	if rl, ok := m.(RepoLister); ok {
		if names := literalNames(gs); names != nil {
			return rl.ListRepos(ctx, src, names, matcher(gs))
		}
	}
	return m.List(ctx, src, matcher(gs))
}

type listed struct {
	m  Mover
	it Item
}

// copyAll copies items, o.Concurrency at once, and returns their results
// in the order listed.
func copyAll(ctx context.Context, o Options, items []listed) []Result {
	n := o.Concurrency
	if n <= 0 {
		n = 2
	}
	out := make([]Result, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for i := range next {
				out[i] = copyOne(ctx, o, items[i])
				if o.Done != nil {
					o.Done(out[i])
				}
			}
		})
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func copyOne(ctx context.Context, o Options, l listed) Result {
	r := Result{Item: l.it}
	if err := ctx.Err(); err != nil {
		r.Status, r.Reason = StatusFailed, reason(err)
		return r
	}
	var progress func(int64)
	if o.Progress != nil {
		progress = func(n int64) { o.Progress(l.it, n) }
	}
	c, err := l.m.Copy(ctx, o.Source, o.Target, l.it, o.DryRun, progress)
	r.Bytes = c.Bytes
	switch {
	case err != nil:
		r.Status, r.Reason = StatusFailed, reason(err)
	case c.Skipped:
		r.Status = StatusSkipped
	case o.DryRun:
		r.Status = StatusDry
	default:
		r.Status = StatusCopied
	}
	return r
}

// reason is the failure as a report shows it: the whole chain, since the
// report is for the operator who started the run (the admin).
func reason(err error) string { return err.Error() }
