package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/robfig/cron/v3"

	"nora/internal/fault"
	"nora/proxy/replicate"
)

// SetReplicate serves svc at /api/v1/replicate (POST a replicate.Request
// as JSON starts a run, 409 while one runs; GET the current or last run)
// and starts each schedule at its time until Close. Call it before Serve.
func (s *Server) SetReplicate(svc *replicate.Service, schedules []replicate.Schedule) error {
	return s.setReplicate(svc, schedules, func(sched cron.Schedule) <-chan time.Time { return cronTicks(s.ctx, sched, s.log) })
}

// setReplicate is SetReplicate with the clock of the schedules (tests).
func (s *Server) setReplicate(svc *replicate.Service, schedules []replicate.Schedule, clock func(cron.Schedule) <-chan time.Time) error {
	var ticks []<-chan time.Time
	for i, e := range schedules {
		sched, err := parseSchedule(e.Schedule)
		if err != nil {
			return fmt.Errorf("replication schedule %d: %w", i+1, err)
		}
		if sched == nil {
			return fmt.Errorf("replication schedule %d: no schedule", i+1)
		}
		ticks = append(ticks, clock(sched))
	}
	s.replicate = svc
	for i, e := range schedules {
		s.wg.Go(func() { s.replicateLoop(e.Request(), ticks[i]) })
	}
	return nil
}

// replicateLoop starts req at every tick until the server closes.
func (s *Server) replicateLoop(req replicate.Request, ticks <-chan time.Time) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticks:
		}
		if _, err := s.replicate.Start(req, "schedule"); err != nil {
			s.log.Warn("scheduled replication skipped", "to", req.To, "from", req.From, "err", err)
		}
	}
}

// serveReplicate implements GET and POST /api/v1/replicate.
func (s *Server) serveReplicate(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, ok := s.replicate.State()
		if !ok {
			writeError(w, http.StatusNotFound, "no replication has run since nora started", nil)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodPost:
		var req replicate.Request
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the body is not a replication request", err.Error())
			return
		}
		st, err := s.replicate.Start(req, "api")
		switch {
		case err == nil:
			w.Header().Set("Location", prefix+"replicate")
			writeJSON(w, http.StatusAccepted, st)
		case errors.Is(err, fault.Conflict):
			writeError(w, http.StatusConflict, fault.Message(err), st)
		case errors.Is(err, fault.Invalid):
			writeError(w, http.StatusBadRequest, fault.Message(err), nil)
		case errors.Is(err, fault.NotFound):
			writeError(w, http.StatusNotFound, fault.Message(err), nil)
		default:
			writeError(w, http.StatusInternalServerError, fault.Message(err), nil)
		}
	default:
		s.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// StartReplicate posts req (POST /api/v1/replicate). A run already in
// progress is an *Error with status 409 whose Detail is its state.
func (c *Client) StartReplicate(ctx context.Context, req replicate.Request) (replicate.State, error) {
	var st replicate.State
	return st, c.do(ctx, http.MethodPost, prefix+"replicate", req, &st)
}

// Replicate is the state of the current or last run; an *Error with
// status 404 if none ran.
func (c *Client) Replicate(ctx context.Context) (replicate.State, error) {
	var st replicate.State
	return st, c.do(ctx, http.MethodGet, prefix+"replicate", nil, &st)
}
