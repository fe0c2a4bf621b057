package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/auth/tenant"
	"nora/proxy/httpx"
	"nora/upstream"
)

// maxRequestBody is what fasthttp reads into memory before the handler runs;
// larger bodies (uploads) reach the handler as a stream (StreamRequestBody).
const maxRequestBody = 4 << 20

// Format labels of the routes the Server answers itself.
const (
	formatOps  = "ops"  // /health, /ready, /metrics
	formatNone = "none" // no route matched, or the request could not be parsed
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server closed")

// Server is nora's HTTP front: routing by path prefix to the format handlers,
// request ids, the access log, metrics, panic recovery, /health, /ready and
// /metrics. It holds all its state, so several can live in one process.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *serverMetrics
	ready   *readiness
	fs      *fasthttp.Server

	ops, none *formatMetrics
	metricsH  fasthttp.RequestHandler

	bodies *httpx.Bodies // bodies handlers read into memory
	// bodyLimit caps the requests with a body in progress (0: no cap),
	// bodyConns counts them: slow bodies must leave connections for
	// /health and for pulls.
	bodyLimit int64
	bodyConns atomic.Int64

	// proxies say who the client is (httpx.ClientAddr); guard limits its
	// failed logins; audit hears of writes, refusals and failed logins.
	proxies httpx.Proxies
	guard   *httpx.Guard
	audit   auth.Auditor
	// tenants limits and counts the requests of each tenant (nil: none).
	tenants *tenant.Set
	// events hears of what successful requests changed (nil: no one).
	events func(httpx.Event)
	// observe hears of every answered request (nil: no one).
	observe func(*httpx.Done)
	// via is this nora's place in a chain of noras (nil: no loop check).
	via *upstream.Via

	routesMu sync.Mutex              // serialises Handle
	routes   atomic.Pointer[[]route] // longest prefix first; replaced whole

	site siteTLS // /ca.crt and the plain listener's redirect

	mu          sync.Mutex
	lns         []*stallListener
	closed      bool
	readyCancel context.CancelFunc
	readyDone   chan struct{}
}

type route struct {
	prefix  []byte
	format  string
	handler fasthttp.RequestHandler
	metrics *formatMetrics
}

// NewServer returns a Server configured by cfg. log receives the access log
// (one line per request) and errors; set receives the nora_http_* metrics and
// is what /metrics exposes, with the process metrics.
//
// Zero values in cfg mean fasthttp's defaults: no read or idle timeout, a
// 4 KiB header limit, 256k connections; StallTimeout 0 sets no write
// deadline; BodyMinRate, BufferedBodyTimeout and MaxBufferedBodies 0 set no
// limit.
func NewServer(cfg Config, log *slog.Logger, set *metrics.Set) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		metrics: newServerMetrics(set),
		ready:   newReadiness(),
	}
	s.ops = s.metrics.format(formatOps)
	s.site.metrics = s.metrics.format(formatSite)
	s.none = s.metrics.format(formatNone)
	s.metricsH = serveMetricsHelp(serveMetrics(set))
	s.routes.Store(&[]route{})
	s.bodies = httpx.NewBodies(cfg.MaxBufferedBodies, cfg.BufferedBodyTimeout.D())
	s.bodyLimit = bodyConnLimit(cfg.MaxConns)
	s.guard = httpx.NewGuard(httpx.DefaultGuardConfig())
	var err error
	if s.proxies, err = cfg.Proxies(); err != nil {
		// The config check refuses this; here the safe side is to
		// trust no one.
		log.Error("server.trusted_proxies ignored", "err", err)
	}
	s.fs = &fasthttp.Server{
		Handler:      s.serveHTTP,
		ErrorHandler: s.serveError,
		// ReadTimeout bounds the request headers; request bodies and
		// responses are bounded by StallTimeout in listener.go, never by a
		// whole-transfer timeout (no WriteTimeout).
		ReadTimeout:                  cfg.ReadTimeout.D(),
		IdleTimeout:                  cfg.IdleTimeout.D(),
		ReadBufferSize:               int(cfg.MaxHeaderBytes), // larger headers: 431
		WriteBufferSize:              writeBufferSize(cfg),
		MaxRequestBodySize:           maxRequestBody,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		Concurrency:                  cfg.MaxConns,
		MaxConnsPerIP:                0,
		NoDefaultServerHeader:        true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		Logger:                       fasthttpLogger{log},
		ReduceMemoryUsage:            reduceMemory(cfg),
	}
	return s
}

// writeBufferSize is fasthttp's response buffer. Over TLS every flush of
// it is one record and one write: 4 KiB (the default) costs twice the CPU
// per GB of 64 KiB (BenchmarkTLSWarmBlobGET); plain responses of objects go
// out by sendfile, past the buffer, and keep the default.
func writeBufferSize(cfg Config) int {
	if cfg.TLS.On() {
		return 64 << 10
	}
	return 0
}

// reduceMemory says whether an idle keep-alive connection gives its
// response and body buffers back between requests, and a new one waits
// for its first byte without a read buffer: per-connection buffers were
// the largest share of the heap under hundreds of keep-alive clients (the
// soak's profile). (A connection that has served a request keeps its read
// buffer: fasthttp does while request bodies stream.) Not over TLS: there
// fasthttp's first-byte read takes a failed handshake for a closed
// connection, and the log would no longer say that a plain client called.
func reduceMemory(cfg Config) bool { return !cfg.TLS.On() }

// Handle routes the requests whose path starts with prefix to h; the
// longest matching prefix wins. format is the label of the requests in the
// access log and metrics ("docker", "npm", ...). /health, /ready and
// /metrics are answered by the Server itself. Handle may be called while
// serving. It panics on an empty or duplicate prefix or a nil handler, as
// http.ServeMux does: those are programming errors.
func (s *Server) Handle(prefix, format string, h fasthttp.RequestHandler) {
	if prefix == "" || prefix[0] != '/' || h == nil {
		panic(fmt.Sprintf("proxy: invalid route %q", prefix))
	}
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	old := *s.routes.Load()
	for _, r := range old {
		if string(r.prefix) == prefix {
			panic(fmt.Sprintf("proxy: route %q registered twice", prefix))
		}
	}
	rs := append(slices.Clone(old), route{
		prefix:  []byte(prefix),
		format:  format,
		handler: h,
		metrics: s.metrics.format(format),
	})
	slices.SortStableFunc(rs, func(a, b route) int { return len(b.prefix) - len(a.prefix) })
	s.routes.Store(&rs)
}

// SetAuditor sends the audit events of requests to a (nil: none). Call it
// before Serve.
func (s *Server) SetAuditor(a auth.Auditor) { s.audit = a }

// SetTenants makes requests count against the tenants of ts (nil: none):
// handlers Admit them and check quotas through httpx, and a push or
// delete that succeeded makes its tenant's usage counted again. Call it
// before Serve.
func (s *Server) SetTenants(ts *tenant.Set) { s.tenants = ts }

// SetEvents sends what each successful write recorded (httpx.SetEvent),
// and each cold fill, to sink. sink must not block. Call it before Serve.
func (s *Server) SetEvents(sink func(httpx.Event)) { s.events = sink }

// SetObserver calls fn with every request answered, once its last byte
// is sent (or the transfer broke off). fn runs on the request's goroutine:
// it must be quick and must not keep d. Call it before Serve.
func (s *Server) SetObserver(fn func(d *httpx.Done)) { s.observe = fn }

// AddReadyCheck registers a check that /ready depends on. Checks run in the
// background, at Serve and then every few seconds, each bounded by a
// timeout; /ready answers 503 naming the failing checks (a new check fails
// until its first run) and 200 once all pass.
func (s *Server) AddReadyCheck(name string, check func(context.Context) error) {
	s.ready.add(name, check)
}

// Serve accepts connections on ln until Shutdown, then returns nil. It may
// be called for several listeners.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve speaking TLS with cfg.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error { return s.serve(ln, cfg) }

func (s *Server) serve(ln net.Listener, tlsCfg *tls.Config) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	sl := newStallListener(ln, s.cfg.StallTimeout.D(),
		bodyRules{minRate: int64(s.cfg.BodyMinRate), grace: s.cfg.BodyGrace.D()})
	sl.perIP, sl.refuseHTTP = s.cfg.MaxConnsPerIP, tlsCfg == nil
	s.lns = append(s.lns, sl)
	if s.readyCancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.readyCancel, s.readyDone = cancel, make(chan struct{})
		go func() {
			defer close(s.readyDone)
			s.ready.run(ctx)
		}()
	}
	s.mu.Unlock()
	if tlsCfg != nil {
		return s.fs.Serve(&tlsListener{sl, tlsCfg})
	}
	return s.fs.Serve(sl)
}

// Shutdown stops accepting connections, closes idle ones, and lets the
// responses in flight finish until ctx ends; then it closes the connections
// still open and returns ctx's error. /ready answers 503 from the start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	lns := slices.Clone(s.lns)
	cancel, done := s.readyCancel, s.readyDone
	s.mu.Unlock()

	s.ready.stop()
	// Closed here as well as by fasthttp, for a Serve that has not yet
	// handed its listener to fasthttp.
	for _, l := range lns {
		_ = l.Listener.Close()
	}
	err := s.fs.ShutdownWithContext(ctx)
	if cancel != nil {
		cancel()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		for _, l := range lns {
			l.closeConns()
		}
		return fmt.Errorf("cannot finish responses in flight, closed their connections: %w", err)
	}
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done(): // a ready check that ignores its context
		}
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("cannot close listener: %w", err)
	}
	return nil
}

// lookup finds the handler for path.
func (s *Server) lookup(path []byte) (fasthttp.RequestHandler, *formatMetrics, string) {
	switch string(path) {
	case "/health":
		return serveHealth, s.ops, formatOps
	case "/ready":
		return s.ready.serve, s.ops, formatOps
	case "/metrics":
		return s.metricsH, s.ops, formatOps
	case caPath:
		return s.site.serveCA, s.site.metrics, formatSite
	}
	for _, r := range *s.routes.Load() {
		if bytes.HasPrefix(path, r.prefix) {
			return r.handler, r.metrics, r.format
		}
	}
	return notFound, s.none, formatNone
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.Error("404 page not found\n", fasthttp.StatusNotFound)
}

// serveHTTP is the fasthttp handler: it wraps the routed handler with the
// request id, panic recovery, access log and metrics, and guards it: a
// Host that could not be written into a link is refused, and requests with
// a body obey the body limits.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	id := requestID(ctx)
	ctx.Response.Header.Set(headerRequestID, id)
	httpx.SetClientAddr(ctx, s.proxies.Client(ctx))
	s.guard.Attach(ctx)
	httpx.AttachTenants(ctx, s.tenants)
	h, fm, format := s.lookup(ctx.Path())
	if !saneHost(ctx.Host()) || !saneHost(ctx.Request.Header.Host()) {
		h, fm, format = badHost, s.none, formatNone
	}
	if leave, loop := s.enterVia(ctx); loop {
		h = s.loopDetected
	} else if leave != nil {
		defer leave()
	}
	withBody := ctx.RequestBodyStream() != nil && ctx.Request.Header.ContentLength() != 0
	if withBody {
		if format != formatOps && s.bodyLimit > 0 {
			if s.bodyConns.Add(1) > s.bodyLimit {
				h = bodiesBusy
			}
			defer s.bodyConns.Add(-1)
		}
		s.bodies.Attach(ctx)
	}

	if s.site.redirects(ctx, format) {
		h = s.site.redirect
	}
	sc := connStall(ctx.Conn())
	if sc != nil {
		sc.handlerRunning(true)
	}
	s.call(ctx, h, id)
	if sc != nil {
		sc.handlerRunning(false)
	}
	if withBody {
		httpx.FinishBody(ctx)
	}
	throttledLogin(ctx)
	s.hostedChanged(ctx)
	// Again: ctx.Error and Response.Reset drop headers set before.
	ctx.Response.Header.Set(headerRequestID, id)
	rec := newRecord(ctx, start, id, format, fm)
	s.auditRequest(ctx, rec)
	s.emitEvent(ctx, rec)
	s.logAfter(ctx, rec)
}

// hostedChanged tells the tenants that a push or delete that succeeded
// changed the hosted objects of its name, so that its tenant's usage is
// counted again before the next quota check.
func (s *Server) hostedChanged(ctx *fasthttp.RequestCtx) {
	if s.tenants == nil || ctx.Response.StatusCode() >= 300 {
		return
	}
	if ai, ok := httpx.Audit(ctx); ok && (ai.Action == auth.Push || ai.Action == auth.Delete) {
		s.tenants.Changed(ai.Format, ai.Name)
	}
}

// bodyConnLimit is how many requests with a body may be in progress at once
// with maxConns connections: all but an eighth (at least 1, at most 64),
// kept for /health, /ready and pulls while slow clients send bodies.
func bodyConnLimit(maxConns int) int64 {
	if maxConns < 2 {
		return 0
	}
	return int64(maxConns - min(max(maxConns/8, 1), 64))
}

// saneHost accepts a Host that may go into a link: host[:port], or empty
// (HTTP/1.0), which cannot inject anything. The URI's host is what links
// are built from (it is the target's in absolute form, and fasthttp drops
// a userinfo from the header's); the header itself is checked as well.
func saneHost(h []byte) bool { return len(h) == 0 || httpx.ValidHost(h) }

func badHost(ctx *fasthttp.RequestCtx) {
	ctx.Error("invalid Host header: want host[:port]\n", fasthttp.StatusBadRequest)
}

// bodiesBusy refuses a request with a body when too many are in progress,
// without reading the body.
func bodiesBusy(ctx *fasthttp.RequestCtx) {
	ctx.Error("too many requests with a body in progress; retry shortly\n", fasthttp.StatusServiceUnavailable)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "2")
	ctx.SetConnectionClose()
}

// call runs h, turning a panic into a logged 500. fasthttp sends nothing
// before the handler returns, so the 500 always replaces the response.
func (s *Server) call(ctx *fasthttp.RequestCtx, h fasthttp.RequestHandler, id string) {
	defer func() {
		if p := recover(); p != nil {
			s.log.LogAttrs(context.Background(), slog.LevelError, "handler panic",
				slog.String("request_id", id),
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())))
			ctx.Response.Reset() // also closes a body stream the handler set
			ctx.Error("internal server error\n", fasthttp.StatusInternalServerError)
		}
	}()
	h(ctx)
}

// serveError answers a request fasthttp could not read (too large headers,
// a timeout, bad syntax), as fasthttp's default would, and logs it.
func (s *Server) serveError(ctx *fasthttp.RequestCtx, err error) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		ctx.Error("Too big request header\n", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.Error("Request timeout\n", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("Error when parsing request\n", fasthttp.StatusBadRequest)
		err = wrongProtocol(ctx, err)
	}
	id := newRequestID()
	ctx.Response.Header.Set(headerRequestID, id)
	rec := &accessRecord{
		start:  start,
		id:     id,
		method: len(methodLabels) - 1,
		format: formatNone,
		fm:     s.none,
		status: ctx.Response.StatusCode(),
		remote: ctx.RemoteAddr().String(),
	}
	s.finish(rec, int64(len(ctx.Response.Body())), err)
}

// fasthttpLogger sends fasthttp's own messages (accept errors, connections
// that failed mid-response) to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	// fasthttp quotes request lines it cannot parse, query strings included.
	l.log.LogAttrs(context.Background(), slog.LevelWarn, auth.RedactText(fmt.Sprintf(format, args...)),
		slog.String("component", "fasthttp"))
}
