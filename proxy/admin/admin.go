// Package admin is the admin API of a running nora (DESIGN 3.5) on a unix
// socket: long jobs (GC, retention, reindex) started by POST and watched by
// GET, storage statistics, and the schedule that runs retention and GC on
// their own. The CLI's gc, retention, reindex and storage commands are its
// clients (Client).
//
// It is plain net/http: the admin API is not on the hot path.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"nora/auth"
	"nora/auth/tenant"
	"nora/proxy/replicate"
)

// Options configure a Server.
type Options struct {
	// Socket is the path of the unix socket (SocketPath).
	Socket string
	Log    *slog.Logger
	// Jobs by name: "gc", "retention", "reindex". Each is served at
	// /api/v1/<name>.
	Jobs map[string]Job
	// Stats returns the storage statistics, served at
	// /api/v1/storage/stats; nil: that resource does not exist.
	Stats func(ctx context.Context) (any, error)
	// Schedule is a cron expression (ValidateSchedule); at each tick the
	// "retention" job runs, then "gc", for real. "" runs them only on
	// request.
	Schedule string
	// Tokens is the API token store, served at /api/v1/tokens; nil: that
	// resource does not exist.
	Tokens TokenStore
	// Tenants, if set, are served at /api/v1/tenants (tenants.go).
	Tenants *tenant.Set
	// Audit, if set, records token creations and revocations.
	Audit auth.Auditor
	// Backup, if set, serves GET /api/v1/backup (backup.go).
	Backup BackupFunc
	// Precheck, if set, may refuse a job before it starts (a GC on an
	// instance that does not hold the maintenance lease of a shared
	// store): a POST gets 409 with its error, a scheduled run is skipped.
	Precheck func(job string) error

	// ticks, if set, replaces the schedule's clock (tests).
	ticks <-chan time.Time
}

// SocketPath is where the admin socket is: the [server] admin_socket key,
// else admin.sock in the [storage] path.
func SocketPath(adminSocket, storagePath string) string {
	if adminSocket != "" {
		return adminSocket
	}
	return filepath.Join(storagePath, "admin.sock")
}

// Server serves the admin API on a unix socket.
type Server struct {
	log    *slog.Logger
	socket string
	ln     net.Listener
	http   *http.Server
	runner *runner
	stats  func(ctx context.Context) (any, error)
	// precheck is Options.Precheck; never nil.
	precheck func(job string) error
	sched    cron.Schedule
	ticks    <-chan time.Time
	tokens   TokenStore
	tenants  *tenant.Set
	audit    auth.Auditor
	backup   BackupFunc
	// webhooks lists webhook deliveries (SetWebhooks); nil: none.
	webhooks WebhookDeliveries
	// content serves images, packages and cache (SetContent); nil: none.
	content *content
	// prefetch serves /api/v1/prefetch (prefetch.go); nil: not there.
	prefetch *prefetchAPI
	// offline serves /api/v1/export and /api/v1/import (offline.go); nil: not there.
	offline *Offline
	// replicate serves /api/v1/replicate (replicate.go); nil: not there.
	replicate *replicate.Service

	ctx       context.Context // of the scheduler; cancelled by Close
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	// startMu orders Serve's start of the schedule loop with Close's wait
	// for it: a Close that came first leaves nothing to start.
	startMu sync.Mutex
	closed  bool
}

// New listens on the socket; Serve serves it. It refuses when another
// process serves on the socket and removes a stale one that a killed
// process left.
func New(o Options) (*Server, error) {
	if o.Socket == "" {
		return nil, errors.New("admin socket: no path")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sched, err := parseSchedule(o.Schedule)
	if err != nil {
		return nil, fmt.Errorf("gc schedule: %w", err)
	}
	ln, err := listen(o.Socket)
	if err != nil {
		return nil, err
	}
	if o.Precheck == nil {
		o.Precheck = func(string) error { return nil }
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		log:      log,
		socket:   o.Socket,
		ln:       ln,
		runner:   newRunner(log, o.Jobs),
		stats:    o.Stats,
		precheck: o.Precheck,
		sched:    sched,
		ticks:    o.ticks,
		tokens:   o.Tokens,
		tenants:  o.Tenants,
		audit:    o.Audit,
		backup:   o.Backup,
		ctx:      ctx,
		stop:     stop,
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// maxSocketPath is the longest path a unix socket can have on Linux
// (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// listen creates the socket, mode 0660, and its directory if missing.
func listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket %s: the path is longer than a unix socket's %d bytes; set [server] admin_socket", path, maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create the directory of the admin socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("cannot create admin socket %s: a file that is not a socket is in the way", path)
		}
		c, err := net.DialTimeout("unix", path, 2*time.Second)
		switch {
		case err == nil:
			c.Close()
			return nil, fmt.Errorf("another nora serves on %s", path)
		case errors.Is(err, syscall.ECONNREFUSED):
			// Left by a process that was killed: nobody listens.
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cannot remove stale admin socket: %w", err)
			}
		default:
			return nil, fmt.Errorf("cannot tell whether another nora serves on %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on admin socket: %w", err)
	}
	// Whoever can open the socket is admin: its owner and group only.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot restrict admin socket: %w", err)
	}
	return ln, nil
}

// Socket returns the path the server listens on.
func (s *Server) Socket() string { return s.socket }

// Serve serves the API and runs the schedule until Close; it then returns
// nil.
func (s *Server) Serve() error {
	ticks := s.ticks
	if ticks == nil && s.sched != nil {
		ticks = cronTicks(s.ctx, s.sched, s.log)
	}
	s.startMu.Lock()
	if ticks != nil && !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.scheduleLoop(s.ctx, ticks)
		}()
	}
	s.startMu.Unlock()
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cannot serve the admin API: %w", err)
	}
	return nil
}

// Close stops serving, removes the socket, cancels the running jobs and
// waits for them to return.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.startMu.Lock()
		s.closed = true
		s.startMu.Unlock()
		s.stop()
		err = s.http.Close()
		// Serve may not have run: the listener is then still open.
		if cerr := s.ln.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
		s.runner.close()
		s.wg.Wait()
	})
	return err
}

// apiError is the JSON of every error answer.
type apiError struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

const prefix = "/api/v1/"

// ServeHTTP routes /api/v1/<job>, /api/v1/storage/stats,
// /api/v1/tokens[/<name>] and /api/v1/tenants[/<name>/usage].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
	case name == "storage/stats" && s.stats != nil:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		s.serveStats(w, r)
		return
	case name == "prefetch" && s.prefetch != nil:
		s.servePrefetch(w, r)
		return
	case name == "replicate" && s.replicate != nil:
		s.serveReplicate(w, r)
		return
	case (name == "export" || name == "import") && s.offline != nil:
		s.serveOffline(w, r, name)
		return
	case name == "backup" && s.backup != nil:
		s.serveBackup(w, r)
		return
	case s.tokens != nil && (name == "tokens" || strings.HasPrefix(name, "tokens/")):
		s.serveTokens(w, r, strings.TrimPrefix(strings.TrimPrefix(name, "tokens"), "/"))
		return
	case s.tenants != nil && (name == "tenants" || strings.HasPrefix(name, "tenants/")):
		s.serveTenants(w, r, strings.TrimPrefix(name, "tenants"))
		return
	case s.content != nil && isContent(name):
		s.content.serve(w, r, s, name)
		return
	case name == "webhooks/deliveries":
		s.serveDeliveries(w, r)
		return
	case s.runner.jobs[name] != nil:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.getJob(w, name)
		case http.MethodPost:
			s.startJob(w, r, name)
		default:
			s.methodNotAllowed(w, r, "GET, HEAD, POST")
		}
		return
	}
	writeError(w, http.StatusNotFound, "no such resource", r.URL.Path)
}

// getJob implements GET /api/v1/<job>: the current or last run.
func (s *Server) getJob(w http.ResponseWriter, name string) {
	st, ok := s.runner.state(name)
	if !ok {
		writeError(w, http.StatusNotFound, name+" has not run since nora started", nil)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// startJob implements POST /api/v1/<job>?dry_run=true|false.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request, name string) {
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "dry_run: want true or false", v)
			return
		}
		dry = b
	}
	if err := s.precheck(name); err != nil {
		writeError(w, http.StatusConflict, err.Error(), nil)
		return
	}
	ru, err := s.runner.start(name, dry)
	var busy errBusy
	switch {
	case errors.As(err, &busy):
		writeError(w, http.StatusConflict, err.Error(), busy.running)
		return
	case errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error(), nil)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	w.Header().Set("Location", prefix+name)
	writeJSON(w, http.StatusAccepted, s.runner.stateOf(ru))
}

// serveStats implements GET /api/v1/storage/stats.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.stats(r.Context())
	if err != nil {
		s.log.Warn("cannot gather storage stats", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot gather storage stats", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here", allow)
}

func writeError(w http.ResponseWriter, status int, msg string, detail any) {
	writeJSON(w, status, apiError{Error: msg, Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "cannot encode the answer", Detail: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
