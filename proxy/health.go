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
// answer, so a probe costs no storage or upstream call. Checks gate the
// answer (503 while one fails); infos only describe (the upstreams' state,
// the storage's usage) and never turn it to 503: an edge cache with its
// upstreams down still serves what it holds.
type readiness struct {
	every time.Duration // between rounds; also each check's timeout

	mu        sync.Mutex
	checks    []readyCheck
	infos     []readyInfo
	failing   map[string]string // by check name: the last error
	details   map[string]any    // by info name: the last report
	checkedAt time.Time         // end of the last round; zero: none yet
	stopping  bool

	answer atomic.Pointer[readyAnswer]
	kick   chan struct{} // a check was added: run a round now
}

type readyCheck struct {
	name  string
	check func(context.Context) error
}

type readyInfo struct {
	name string
	info func(context.Context) (any, error)
}

// readyAnswer is a prepared /ready response.
type readyAnswer struct {
	status int
	body   []byte
}

func newReadiness() *readiness {
	r := &readiness{every: 5 * time.Second, failing: map[string]string{}, details: map[string]any{},
		kick: make(chan struct{}, 1)}
	r.publishLocked()
	return r
}

func (r *readiness) add(name string, check func(context.Context) error) {
	r.mu.Lock()
	r.checks = append(r.checks, readyCheck{name, check})
	r.failing[name] = "not checked yet"
	r.publishLocked()
	r.mu.Unlock()
	r.kickRound()
}

// addInfo registers an informational section of /ready under name.
func (r *readiness) addInfo(name string, info func(context.Context) (any, error)) {
	r.mu.Lock()
	r.infos = append(r.infos, readyInfo{name, info})
	r.mu.Unlock()
	r.kickRound()
}

func (r *readiness) kickRound() {
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

// round runs every check and info concurrently, each bounded by r.every,
// and publishes the result.
func (r *readiness) round(ctx context.Context) {
	r.mu.Lock()
	checks := append([]readyCheck(nil), r.checks...)
	infos := append([]readyInfo(nil), r.infos...)
	r.mu.Unlock()
	errs := make([]error, len(checks))
	reports := make([]any, len(infos))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.every)
			defer cancel()
			errs[i] = c.check(cctx)
		})
	}
	for i, in := range infos {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.every)
			defer cancel()
			v, err := in.info(cctx)
			if err != nil {
				v = map[string]string{"error": err.Error()}
			}
			reports[i] = v
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
	for i, in := range infos {
		r.details[in.name] = reports[i]
	}
	r.checkedAt = time.Now().UTC()
	r.publishLocked()
	r.mu.Unlock()
}

// publishLocked prepares the /ready answer: 200 {"status":"ready",...}
// while every check passes, else 503 naming the failing ones; the infos'
// sections ride along either way.
func (r *readiness) publishLocked() {
	v := make(map[string]any, len(r.details)+3)
	for name, d := range r.details {
		v[name] = d
	}
	status, code := "ready", fasthttp.StatusOK
	switch {
	case r.stopping:
		status, code = "shutting down", fasthttp.StatusServiceUnavailable
	case len(r.failing) > 0:
		status, code = "unavailable", fasthttp.StatusServiceUnavailable
	}
	v["status"] = status
	if len(r.failing) > 0 {
		v["failing"] = r.failing
	}
	if !r.checkedAt.IsZero() {
		v["checked_at"] = r.checkedAt
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"status":"` + status + `"}`)
	}
	r.answer.Store(&readyAnswer{status: code, body: b})
}

// AddReadyInfo registers a section of /ready that informs and never gates:
// info runs in the background with the checks, and its last result (or
// {"error": ...}) is published under name; "status", "failing" and
// "checked_at" are taken.
func (s *Server) AddReadyInfo(name string, info func(context.Context) (any, error)) {
	s.ready.addInfo(name, info)
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
