package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/robfig/cron/v3"

	"nora/internal/fault"
	"nora/proxy/prefetch"
)

// prefetchAPI serves /api/v1/prefetch and runs the [[prefetch]] entries
// on their schedules.
type prefetchAPI struct {
	svc *prefetch.Service
}

// SetPrefetch serves svc at /api/v1/prefetch (POST a list as text/plain,
// ?platform=os/arch to narrow image indexes; GET the current or last run)
// and runs each of entries at its schedule until Close. Call it before
// Serve.
func (s *Server) SetPrefetch(svc *prefetch.Service, entries []prefetch.Config) error {
	return s.setPrefetch(svc, entries, func(sched cron.Schedule) <-chan time.Time { return cronTicks(s.ctx, sched, s.log) })
}

// setPrefetch is SetPrefetch with the clock of the schedules (tests).
func (s *Server) setPrefetch(svc *prefetch.Service, entries []prefetch.Config, clock func(cron.Schedule) <-chan time.Time) error {
	type due struct {
		e     prefetch.Config
		ticks <-chan time.Time
	}
	var dues []due
	for i, e := range entries {
		sched, err := parseSchedule(e.Schedule)
		if err != nil {
			return fmt.Errorf("prefetch %d: schedule: %w", i+1, err)
		}
		if sched == nil {
			return fmt.Errorf("prefetch %d: no schedule", i+1)
		}
		dues = append(dues, due{e, clock(sched)})
	}
	s.prefetch = &prefetchAPI{svc: svc}
	for _, d := range dues {
		s.wg.Go(func() { s.prefetchLoop(d.e, d.ticks) })
	}
	return nil
}

// prefetchLoop starts entry e at every tick until the server closes.
func (s *Server) prefetchLoop(e prefetch.Config, ticks <-chan time.Time) {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticks:
		}
		if err := s.prefetch.runEntry(e); err != nil {
			s.log.Warn("scheduled prefetch skipped", "file", e.File, "err", err)
		}
	}
}

// runEntry starts the entry's list, read now (a file may have changed).
func (p *prefetchAPI) runEntry(e prefetch.Config) error {
	items, err := e.List()
	if err != nil {
		return err
	}
	_, err = p.svc.Start(items, e.Platform, "schedule")
	return err
}

// servePrefetch implements GET and POST /api/v1/prefetch.
func (s *Server) servePrefetch(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, ok := s.prefetch.svc.State()
		if !ok {
			writeError(w, http.StatusNotFound, "no prefetch has run since nora started", nil)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodPost:
		s.startPrefetch(w, r)
	default:
		s.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// readList reads a request's item list (the body) and ?platform=; a bad
// one is answered, and ok is false.
func readList(w http.ResponseWriter, r *http.Request) (items []prefetch.Item, platform string, ok bool) {
	platform = r.URL.Query().Get("platform")
	if platform != "" {
		if err := prefetch.ValidPlatform(platform); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), nil)
			return nil, "", false
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, prefetch.MaxListSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the list", err.Error())
		return nil, "", false
	}
	items, err = prefetch.Parse(string(body))
	if err != nil {
		writeError(w, faultStatus(err), fault.Message(err), nil)
		return nil, "", false
	}
	return items, platform, true
}

func (s *Server) startPrefetch(w http.ResponseWriter, r *http.Request) {
	items, platform, ok := readList(w, r)
	if !ok {
		return
	}
	st, err := s.prefetch.svc.Start(items, platform, "api")
	if err == nil {
		w.Header().Set("Location", prefix+"prefetch")
		writeJSON(w, http.StatusAccepted, st)
		return
	}
	if errors.Is(err, fault.Conflict) {
		writeError(w, http.StatusConflict, fault.Message(err), st)
		return
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, fault.Invalid):
		status = http.StatusBadRequest
	case errors.Is(err, fault.TooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, fault.Unavailable):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, fault.Message(err), nil)
}

// StartPrefetch posts list (POST /api/v1/prefetch); platform "" fetches
// every platform of an index. A prefetch already running is an *Error
// with status 409 whose Detail is its state.
func (c *Client) StartPrefetch(ctx context.Context, list []byte, platform string) (prefetch.State, error) {
	path := prefix + "prefetch"
	if platform != "" {
		path += "?platform=" + url.QueryEscape(platform)
	}
	req, err := c.request(ctx, http.MethodPost, path, bytes.NewReader(list))
	if err != nil {
		return prefetch.State{}, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	var st prefetch.State
	return st, c.send(req, &st)
}

// Prefetch is the state of the current or last prefetch; an *Error with
// status 404 if none ran.
func (c *Client) Prefetch(ctx context.Context) (prefetch.State, error) {
	var st prefetch.State
	return st, c.do(ctx, http.MethodGet, prefix+"prefetch", nil, &st)
}

// send sends req and decodes the answer into v, or returns the *Error.
func (c *Client) send(req *http.Request, v any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return &Error{Status: resp.StatusCode, Message: "admin API: " + resp.Status}
		}
		detail, _ := json.Marshal(e.Detail)
		return &Error{Status: resp.StatusCode, Message: e.Error, Detail: detail}
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(v)
}
