package proxy

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// readiness runs the ready checks in the background and keeps the last
// answer, so a probe costs no storage or upstream call.
type readiness struct {
	every time.Duration // between rounds; also each check's timeout

	mu       sync.Mutex
	checks   []readyCheck
	failing  map[string]string // by check name: the last error
	stopping bool

	answer atomic.Pointer[readyAnswer]
	kick   chan struct{} // a check was added: run a round now
}

type readyCheck struct {
	name  string
	check func(context.Context) error
}

// readyAnswer is a prepared /ready response.
type readyAnswer struct {
	status int
	body   []byte
}

func newReadiness() *readiness {
	r := &readiness{every: 5 * time.Second, failing: map[string]string{}, kick: make(chan struct{}, 1)}
	r.publishLocked()
	return r
}

func (r *readiness) add(name string, check func(context.Context) error) {
	r.mu.Lock()
	r.checks = append(r.checks, readyCheck{name, check})
	r.failing[name] = "not checked yet"
	r.publishLocked()
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// stop makes /ready answer 503 from now on, so load balancers stop sending
// work to a server that is shutting down.
func (r *readiness) stop() {
	r.mu.Lock()
	r.stopping = true
	r.publishLocked()
	r.mu.Unlock()
}

// run checks until ctx ends: at once, then every r.every and whenever a
// check is added.
func (r *readiness) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// round runs every check concurrently, each bounded by r.every, and
// publishes the result.
func (r *readiness) round(ctx context.Context) {
	r.mu.Lock()
	checks := append([]readyCheck(nil), r.checks...)
	r.mu.Unlock()
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.every)
			defer cancel()
			errs[i] = c.check(cctx)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	for i, c := range checks {
		if errs[i] != nil {
			r.failing[c.name] = errs[i].Error()
		} else {
			delete(r.failing, c.name)
		}
	}
	r.publishLocked()
	r.mu.Unlock()
}

func (r *readiness) publishLocked() {
	a := &readyAnswer{status: fasthttp.StatusOK, body: []byte(`{"status":"ready"}`)}
	if r.stopping || len(r.failing) > 0 {
		v := struct {
			Status  string            `json:"status"`
			Failing map[string]string `json:"failing,omitempty"`
		}{"unavailable", r.failing}
		if r.stopping {
			v.Status = "shutting down"
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(`{"status":"unavailable"}`)
		}
		a = &readyAnswer{status: fasthttp.StatusServiceUnavailable, body: b}
	}
	r.answer.Store(a)
}

// serveHealth answers /health from memory: the process is up.
func serveHealth(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ok\n")
}

// serveReady answers /ready with the last background round's result.
func (r *readiness) serve(ctx *fasthttp.RequestCtx) {
	a := r.answer.Load()
	ctx.SetStatusCode(a.status)
	ctx.SetContentType("application/json")
	ctx.SetBody(a.body)
}

// serveMetrics writes the Server's metrics and the process metrics.
func serveMetrics(set *metrics.Set) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		w := ctx.Response.BodyWriter()
		set.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	}
}
