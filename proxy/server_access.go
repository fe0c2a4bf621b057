package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/proxy/httpx"
)

const headerRequestID = "X-Request-Id"

// requestID returns the client's X-Request-Id when it is sane, else a new
// one. Sane: 1..128 characters of [A-Za-z0-9._-], nothing a log line or a
// header could be abused with.
func requestID(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.Peek(headerRequestID); saneRequestID(v) {
		return string(v)
	}
	return newRequestID()
}

func saneRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// accessRecord is what the access log line and the metrics need, copied out
// of the RequestCtx when the handler returns: a streamed body is written
// after that, and the ctx must not be kept.
type accessRecord struct {
	start       time.Time
	id          string
	method      int // index in methodLabels
	methodName  string
	path        string // query secrets redacted
	format      string
	fm          *formatMetrics
	repository  string
	cacheResult string
	write       bool // a write to a hosted repository (hostedWrite)
	status      int
	remote      string
	client      string // the client a trusted proxy named, if not the peer
	userAgent   string
	done        httpx.Done // what the observer hears, filled in by finish
}

func newRecord(ctx *fasthttp.RequestCtx, start time.Time, id, format string, fm *formatMetrics) *accessRecord {
	repo, cacheResult := httpx.LogInfo(ctx)
	method := methodIndex(ctx.Method())
	return &accessRecord{
		start:       start,
		id:          id,
		method:      method,
		methodName:  string(ctx.Method()),
		path:        loggedURI(ctx.Path(), ctx.URI().QueryString()),
		format:      format,
		fm:          fm,
		repository:  repo,
		cacheResult: cacheResult,
		write:       hostedWrite(format, method, ctx.Path()),
		status:      ctx.Response.StatusCode(),
		remote:      ctx.RemoteAddr().String(),
		client:      forwardedClient(ctx),
		userAgent:   string(ctx.UserAgent()),
	}
}

// forwardedClient is httpx.ClientAddr when a trusted proxy named a client
// other than itself, else "".
func forwardedClient(ctx *fasthttp.RequestCtx) string {
	if c := httpx.ClientAddr(ctx); c != peerAddr(ctx) {
		return c.String()
	}
	return ""
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// logAfter finishes rec now, or, for a body set through httpx, once the last
// byte is written or the transfer broke off.
func (s *Server) logAfter(ctx *fasthttp.RequestCtx, rec *accessRecord) {
	if ctx.Response.IsBodyStream() {
		if httpx.OnStreamDone(ctx, func(sent int64, err error) { s.finish(rec, sent, err) }) {
			return
		}
		// A bare ctx.SetBodyStream: only the declared length is known.
		n := int64(ctx.Response.Header.ContentLength())
		if ctx.IsHead() || n < 0 {
			n = 0
		}
		s.finish(rec, n, nil)
		return
	}
	var n int64
	if !ctx.IsHead() {
		n = int64(len(ctx.Response.Body()))
	}
	s.finish(rec, n, nil)
}

// finish writes the access log line and the metrics of one request. err is
// why the response broke off (or could not be read), if it did.
func (s *Server) finish(rec *accessRecord, sent int64, err error) {
	d := time.Since(rec.start)
	s.metrics.inFlight.Dec()
	rec.fm.observe(rec.method, classIndex(rec.status), d, sent)
	// Counted here, where the format is known, so that the cache needs
	// to know no format.
	if i := cacheResultIndex(rec.cacheResult); i >= 0 {
		rec.fm.cacheResult(i, sent)
	}
	if rec.write {
		rec.fm.write(writeResultIndex(rec.status))
	}
	if s.observe != nil {
		// In the record, allocated anyway: no allocation per request.
		rec.done = httpx.Done{Start: rec.start, Duration: d, Method: rec.methodName, Path: rec.path,
			Format: rec.format, Repository: rec.repository, Cache: rec.cacheResult,
			Status: rec.status, Bytes: sent, Err: err}
		s.observe(&rec.done)
	}

	level := slog.LevelInfo
	switch {
	case err != nil:
		level = slog.LevelWarn
	case rec.format == formatOps:
		// Probes and scrapes come every few seconds and say nothing.
		level = slog.LevelDebug
	}
	s.logRequest(level, rec, sent, d, err)
}

// logRequest writes the access line of rec.
func (s *Server) logRequest(level slog.Level, rec *accessRecord, sent int64, d time.Duration, err error) {
	if lh, ok := s.log.Handler().(*LogHandler); ok && fastAccessLine(lh, level, rec, sent, d, err) {
		return
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", rec.id),
		slog.String("method", rec.methodName),
		slog.String("path", rec.path),
		slog.String("format", rec.format),
		slog.String("repository", rec.repository),
		slog.Int("status", rec.status),
		slog.Int64("bytes", sent),
		// A number with its unit in the key, not a Go duration string as
		// in the other lines: log queries compare and sum it as is.
		slog.Float64("duration_ms", durationMS(d)),
		slog.String("cache", rec.cacheResult),
		slog.String("remote", rec.remote),
		slog.String("user_agent", rec.userAgent),
	}
	if rec.client != "" {
		attrs = append(attrs, slog.String("client", rec.client))
	}
	if err != nil {
		// A request line fasthttp could not parse is quoted in its error.
		attrs = append(attrs, slog.String("error", auth.RedactText(err.Error())))
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fastAccessLine writes the access line as the slog call in finish would,
// without its cost (LogHandler). It returns false when slog must write it
// (or drop it: a level the handler does not write).
func fastAccessLine(lh *LogHandler, level slog.Level, rec *accessRecord, sent int64, d time.Duration, err error) bool {
	l, ok := lh.accessLine(level, "request")
	if !ok {
		return false
	}
	l.str("request_id", rec.id)
	l.str("method", rec.methodName)
	l.str("path", rec.path)
	l.str("format", rec.format)
	l.str("repository", rec.repository)
	l.int("status", int64(rec.status))
	l.int("bytes", sent)
	l.float("duration_ms", durationMS(d))
	l.str("cache", rec.cacheResult)
	l.str("remote", rec.remote)
	l.str("user_agent", rec.userAgent)
	if rec.client != "" {
		l.str("client", rec.client)
	}
	if err != nil {
		l.str("error", auth.RedactText(err.Error()))
	}
	return lh.write(l)
}

// loggedURI is the request's URI as the access log shows it: the decoded
// path, then the raw query with the values of secret-looking keys
// redacted (auth.RedactQuery), so that tokens and passwords never reach
// the log. A "?" or "#" that was escaped in the path stays escaped, or
// the line would show a query the server never saw (unredacted).
func loggedURI(path, query []byte) string {
	p := string(path)
	if strings.ContainsAny(p, "?#") {
		p = strings.NewReplacer("?", "%3F", "#", "%23").Replace(p)
	}
	if len(query) == 0 {
		return p
	}
	return p + "?" + redactQuery(query)
}

func redactQuery(q []byte) string { return auth.RedactQuery(string(q)) }

// throttledLogin makes a 401 to a login the guard refused unchecked a 429
// with Retry-After: handlers that read credentials with httpx.Credentials
// know only that they are not good, and the client must learn to wait
// rather than that its password is wrong (it was never checked).
func throttledLogin(ctx *fasthttp.RequestCtx) {
	ai, ok := httpx.Audit(ctx)
	if !ok || ai.RetryAfter <= 0 || ctx.Response.StatusCode() != fasthttp.StatusUnauthorized {
		return
	}
	ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
	ctx.Response.Header.Del(fasthttp.HeaderWWWAuthenticate)
	httpx.SetLoginRetryAfter(ctx)
}

// auditRequest writes the audit line of a request that wrote or deleted
// (or tried to), was refused (401, 403, 429) after its authorization, or
// failed to log in. The steps of an upload that commit nothing yet (a
// 202 to anything but a delete: a session opened, a chunk taken) are not
// written; the request that completes it is.
func (s *Server) auditRequest(ctx *fasthttp.RequestCtx, rec *accessRecord) {
	if s.audit == nil {
		return
	}
	ai, ok := httpx.Audit(ctx)
	if !ok {
		return
	}
	action := string(ai.Action)
	switch {
	case ai.LoginFailed:
		action = auth.AuditLoginFailed
	case ai.Action == "":
		return
	case refusal(rec.status):
	case !rec.write, rec.status == fasthttp.StatusAccepted && !ctx.IsDelete():
		return
	}
	name := ai.Name
	if name == "" {
		name = rec.repository
	}
	s.audit.Record(auth.Event{
		Time:      rec.start,
		Actor:     ai.Actor,
		Action:    action,
		Format:    rec.format,
		Name:      name,
		Reference: rec.path,
		Result:    strconv.Itoa(rec.status),
		Remote:    clientString(ctx),
		RequestID: rec.id,
	})
}

func refusal(status int) bool {
	switch status {
	case fasthttp.StatusUnauthorized, fasthttp.StatusForbidden, fasthttp.StatusTooManyRequests:
		return true
	}
	return false
}

func clientString(ctx *fasthttp.RequestCtx) string {
	if c := httpx.ClientAddr(ctx); c.IsValid() {
		return c.String()
	}
	return ""
}

// emitEvent sends the event a successful request recorded, or a fill
// when the request's object came from the upstream (cache result miss), to
// the events sink.
func (s *Server) emitEvent(ctx *fasthttp.RequestCtx, rec *accessRecord) {
	if s.events == nil || rec.status < 200 || rec.status >= 300 {
		return
	}
	ev, ok := httpx.EventOf(ctx)
	switch {
	case ok:
	case rec.cacheResult == cacheResults[1] && !ctx.IsHead(): // "miss"
		ev = &httpx.Event{Kind: httpx.EventFill, Reference: rec.path, Size: max(int64(ctx.Response.Header.ContentLength()), 0)}
	default:
		return
	}
	ai, _ := httpx.Audit(ctx)
	e := *ev
	e.ID, e.Time, e.Actor, e.Format, e.Name = rec.id, rec.start, ai.Actor, rec.format, ai.Name
	if e.Name == "" {
		e.Name = rec.repository
	}
	if e.Actor == "" {
		e.Actor = auth.AnonymousActor
	}
	s.events(e)
}
