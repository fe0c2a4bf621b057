package stats

import (
	"strings"
	"sync"
	"time"

	"nora/proxy/httpx"
)

// ErrorsKept is how many of the last errors Errors reports.
const ErrorsKept = 50

// Failure is one request that failed: a 5xx answer or a transfer that
// broke off.
type Failure struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Format string    `json:"format"`
	Status int       `json:"status"`
	Error  string    `json:"error,omitempty"`
}

// errorRing keeps the last ErrorsKept failures. Its lock is taken only
// by failing requests.
type errorRing struct {
	mu   sync.Mutex
	ring [ErrorsKept]Failure
	next int
	n    int
}

func (r *errorRing) add(now time.Time, d *httpx.Done) {
	f := Failure{Time: now, Method: d.Method, Path: strings.Clone(d.Path), Format: d.Format, Status: d.Status}
	if d.Err != nil {
		f.Error = d.Err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = f
	r.next = (r.next + 1) % ErrorsKept
	r.n = min(r.n+1, ErrorsKept)
}

// Errors are the last failures, newest first.
func (s *Stats) Errors() []Failure {
	r := &s.errs
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Failure, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.ring[(r.next-i+ErrorsKept)%ErrorsKept])
	}
	return out
}
