package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Audit actions beyond the request actions (Pull, Push, Delete, Admin),
// which a write or a denied request records as they are.
const (
	AuditTokenCreate = "token-create"
	AuditTokenRevoke = "token-revoke"
	AuditLoginFailed = "login-failed"
)

// Audit results besides an HTTP status.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
)

// AnonymousActor is the actor of a request without (valid) credentials.
const AnonymousActor = "anonymous"

// Event is one line of the audit log. Nothing in it may be a secret: no
// password, no token, no Authorization header, no raw query string.
type Event struct {
	// Time is filled in by Record when zero.
	Time time.Time
	// Actor is ActorOf the identity, or a user name a failed login
	// claimed (the name, never the password).
	Actor  string
	Action string // Push, Delete, AuditTokenCreate, ...
	Format string // "docker", "npm", ...; "" for the admin API
	Name   string // repository, package or token name
	// Reference is a tag, version, digest or file; the request path
	// (with its query redacted) when nothing finer is known.
	Reference string
	Result    string // ResultOK, ResultDenied or an HTTP status ("201")
	Remote    string // the client's address (httpx.ClientAddr)
	RequestID string
}

// Auditor records audit events. Record must not block for long and never
// fails the caller's request: a log that cannot be written is reported by
// the Auditor itself.
type Auditor interface {
	Record(Event)
}

// ActorOf names id in the audit log: its Actor, else its name, else
// "anonymous" for nil.
func ActorOf(id *Identity) string {
	switch {
	case id == nil:
		return AnonymousActor
	case id.Actor != "":
		return id.Actor
	case id.Kind == APIToken:
		return "token " + id.Name
	}
	return id.Name
}

// AuditConfig is the [audit] section.
type AuditConfig struct {
	// Path is the file the audit log is appended to, reopened on SIGHUP
	// (logrotate), or AuditStdout; "" writes none.
	Path string `toml:"path"`
}

// AuditStdout is the [audit] path that sends the log to standard output.
const AuditStdout = "stdout"

// AuditLog writes events as JSON lines to a file opened for appending, or
// to stdout. It is safe for concurrent use; each Record writes its line
// before it returns (under a mutex, so nothing queues without bound). A nil
// *AuditLog records nothing, so that "audit off" needs no checks.
type AuditLog struct {
	path string // "" for a writer given to NewAuditLog

	mu      sync.Mutex
	w       io.Writer
	f       *os.File // w when path is a file
	failed  func(error)
	failing bool // the last write failed: failed heard of it once
}

// OpenAuditLog opens the audit log at path: a file (created 0640, appended
// to) or AuditStdout, which writes to stdout (nora's log there, which
// takes whole lines and keeps them in order with its own). An empty path
// means no audit log: it returns nil, nil. failed, if not nil, hears of
// writes that fail (a full disk), once until one succeeds again; the event
// is lost then, the request goes on.
func OpenAuditLog(path string, stdout io.Writer, failed func(error)) (*AuditLog, error) {
	switch path {
	case "":
		return nil, nil
	case AuditStdout:
		return &AuditLog{w: stdout, failed: failed}, nil
	}
	l := &AuditLog{path: path, failed: failed}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// NewAuditLog writes the log to w (tests).
func NewAuditLog(w io.Writer) *AuditLog { return &AuditLog{w: w} }

// Reopen opens the file again at its path (SIGHUP after logrotate moved
// it); lines written from then on go to the new file. On error the old
// file stays in use. It does nothing for stdout or a given writer.
func (l *AuditLog) Reopen() error {
	if l == nil || l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("cannot open audit log: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f, l.w = f, f
	l.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// Close closes the file; later events are dropped.
func (l *AuditLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.f
	l.f, l.w = nil, nil
	if f != nil {
		return f.Close()
	}
	return nil
}

// auditLine is an Event as written: fixed keys, RFC 3339 UTC time.
type auditLine struct {
	Time      string `json:"time"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	Format    string `json:"format,omitempty"`
	Name      string `json:"name,omitempty"`
	Reference string `json:"reference,omitempty"`
	Result    string `json:"result"`
	Remote    string `json:"remote,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Record writes e as one line.
func (l *AuditLog) Record(e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Actor == "" {
		e.Actor = AnonymousActor
	}
	line, err := json.Marshal(auditLine{
		Time:   e.Time.UTC().Format(time.RFC3339Nano),
		Actor:  e.Actor,
		Action: e.Action,
		Format: e.Format,
		Name:   e.Name,
		// A path may carry a query; keep its secrets out.
		Reference: RedactURL(e.Reference),
		Result:    e.Result,
		Remote:    e.Remote,
		RequestID: e.RequestID,
	})
	if err != nil { // strings only: cannot happen
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	if l.w != nil {
		_, err = l.w.Write(line)
	}
	report := err != nil && !l.failing && l.failed != nil
	l.failing = err != nil
	l.mu.Unlock()
	if report {
		l.failed(fmt.Errorf("cannot write audit log: %w", err))
	}
}
