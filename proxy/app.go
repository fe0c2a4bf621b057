package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/auth/oidc"
	"nora/auth/tenant"
	"nora/cache"
	"nora/cache/transfer"
	hostedcargo "nora/hosted/cargo"
	hostedmaven "nora/hosted/maven"
	hostednpm "nora/hosted/npm"
	"nora/hosted/oci"
	hostedpypi "nora/hosted/pypi"
	"nora/hosted/retention"
	"nora/internal/units"
	"nora/proxy/admin"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/inventory"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/prefetch"
	"nora/proxy/pull"
	"nora/proxy/pypi"
	"nora/proxy/replicate"
	"nora/proxy/sitetls"
	"nora/proxy/webhook"
	"nora/upstream"
)

// AppConfig is everything NewApp needs; cmd/nora fills it from the TOML file.
type AppConfig struct {
	Server  Config
	Storage cache.Config
	Docker  docker.Config
	Npm     npm.Config
	PyPI    pypi.Config
	Maven   maven.Config
	Cargo   cargo.Config
	// Auth is the [auth] section. nil means auth.DefaultConfig()
	// (anonymous reads, no writes): a zero auth.Config would turn anonymous
	// reads off for every caller that does not set it.
	Auth *auth.Config
	// Upstream tunes the upstream client; it is not in the TOML file. The
	// zero value means upstream.DefaultConfig().
	Upstream *upstream.Config
	// GC is the [gc] section, Retention the [[retention]] rules.
	GC        cache.GCConfig
	Retention []retention.Rule
	// HostedOCI tunes the hosted OCI registry (upload sessions); it is not
	// in the TOML file. nil means oci.DefaultConfig().
	HostedOCI *oci.Config
	// Build is exported as nora_build_info; cmd/nora sets it.
	Build Build
	// Audit is the [audit] section: where the audit log goes.
	Audit auth.AuditConfig
	// Tenants are the [[tenants]]: none means one default tenant, with no
	// limits.
	Tenants []tenant.Config
	// TenantClock, if set, is the clock of the tenants' rate limits
	// (tests); it is not in the TOML file.
	TenantClock func() time.Time
	// Prefetch are the [[prefetch]] entries: lists warmed on a schedule.
	Prefetch []prefetch.Config
	// Replication is [replication]: remotes and scheduled runs.
	Replication replicate.Config
	// Webhooks are the [[webhooks]]; WebhookTuning, if set, replaces
	// webhook.DefaultTuning() (tests); it is not in the TOML file.
	Webhooks      []webhook.Config
	WebhookTuning *webhook.Tuning
}

// App is the whole nora object graph: store, upstream clients, format
// handlers and the HTTP server. main and the tests build it the same way.
type App struct {
	log *slog.Logger
	ln  net.Listener
	// plainLn is [server] listen_plain beside a TLS ln; nil: none.
	plainLn net.Listener
	// certs is the TLS listener's certificate; nil: TLS off.
	certs  *sitetls.Certs
	srv    *Server
	cache  *cache.Cache
	auth   *liveAuth
	hosted *oci.Registry
	// tenants limits, and counts the usage of, each tenant.
	tenants *tenant.Set
	// tokens are the API tokens (`nora token create`), a verifier of auth.
	tokens *auth.APITokens
	// oidc exchanges CI identity tokens for nora tokens, a verifier of auth.
	oidc   *oidc.Exchanger
	docker *docker.Handler
	docs   *pull.Docs
	admin  *admin.Server
	// inventory is what is on the box: the admin API and the web UI list it.
	inventory *inventory.Inventory
	// audit records writes, refusals, failed logins and token changes;
	// nil when [audit] path is empty.
	audit *auth.AuditLog
	// closers release the format handlers' own resources.
	closers []func()
	// life is cancelled when the server stops: detached fills and
	// revalidations derive their contexts from it.
	life context.Context
	stop context.CancelFunc
}

// redirectTTL is how long a presigned blob URL ([storage.s3] redirect)
// stays valid: long enough for a client to follow it, short enough that a
// leaked one soon stops working.
const redirectTTL = 5 * time.Minute

// drainTimeout bounds how long Serve waits for open responses on shutdown.
const drainTimeout = 30 * time.Second

// NewApp builds the object graph and binds the listener (so Addr is known
// before Serve). The wiring lives here rather than in cmd/nora so that
// every test builds the graph main builds (package main cannot be
// imported); cmd/nora only turns the TOML file into an AppConfig.
func NewApp(cfg AppConfig, log *slog.Logger) (*App, error) {
	set := metrics.NewSet()
	registerBuildInfo(set, cfg.Build)
	store, err := OpenStore(context.Background(), cfg.Storage)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(store, cfg.Storage.Path, log, set)
	if err != nil {
		return nil, err
	}
	if cfg.Storage.Backend == "s3" && cfg.Storage.S3.Redirect {
		c.SetRedirect(redirectTTL)
	}
	app := &App{log: log, cache: c}
	app.life, app.stop = context.WithCancel(context.Background())
	if err := app.build(cfg, store, set); err != nil {
		app.close()
		return nil, err
	}
	return app, nil
}

// build wires everything on the cache: auth, the handlers with their
// hosted state, GC and retention, the admin API, readiness, the listener.
func (app *App) build(cfg AppConfig, store cache.Store, set *metrics.Set) error {
	log, c := app.log, app.cache
	upCfg := upstream.DefaultConfig()
	if cfg.Upstream != nil {
		upCfg = *cfg.Upstream
	}
	client := upstream.NewClient(upCfg, log, set)
	authCfg, err := app.openAuth(cfg, store)
	if err != nil {
		return err
	}
	app.srv = NewServer(cfg.Server, log, set)
	app.srv.SetVia(client.Via())
	if app.tenants, err = tenant.New(tenant.Options{Tenants: cfg.Tenants, AnonymousPerMinute: cfg.Server.RateLimit,
		Metrics: set, Now: cfg.TenantClock}); err != nil {
		return err
	}
	app.srv.SetTenants(app.tenants)
	if err := app.openAudit(cfg.Audit); err != nil {
		return err
	}
	if err := app.mountOIDC(authCfg.OIDC); err != nil {
		return err
	}
	if err := app.mountDocker(cfg, client, store); err != nil {
		return err
	}
	if app.docs, err = pull.NewDocs(c, log, pull.WithBase(app.life)); err != nil {
		return err
	}
	deps := pull.Deps{Cache: c, Auth: app.auth, Client: client, Docs: app.docs, Log: log,
		Stall: cfg.Storage.StallTimeout.D(), PublicURL: cfg.Server.PublicURL, Base: app.life}
	markers, sources, err := app.mountFormats(cfg, deps, store)
	if err != nil {
		return err
	}
	c.SetMarkers(markers...)
	c.Start(cfg.Storage.Limits())
	if app.admin, err = newAdmin(cfg, c, store, sources, app.tokens, app.tenants, app.auditor(), log); err != nil {
		return err
	}
	app.mountInventory(store)
	if err := app.mountWebhooks(cfg, set); err != nil {
		return err
	}
	if err := app.mountPrefetch(cfg); err != nil {
		return err
	}
	if err := app.mountReplicate(cfg); err != nil {
		return err
	}
	app.mountAdminRemote()
	app.srv.AddReadyCheck("storage", c.Ready)
	// Informational: upstreams never gate /ready (a cache with its
	// upstreams down still serves what it holds).
	app.srv.AddReadyInfo("storage", func(ctx context.Context) (any, error) { return c.Stats(ctx) })
	app.srv.AddReadyInfo("upstreams", func(context.Context) (any, error) { return client.Status(), nil })
	if err := app.listen(cfg); err != nil {
		return err
	}
	app.mountStartPage(cfg)
	if err := app.mountUI(cfg, client); err != nil {
		return err
	}
	logFormats(log, cfg)
	return nil
}

// openAuth builds the Authorizer of [auth] and the API tokens it takes,
// and returns the [auth] section it was built from.
func (app *App) openAuth(cfg AppConfig, store cache.Store) (auth.Config, error) {
	authCfg := auth.DefaultConfig()
	if cfg.Auth != nil {
		authCfg = *cfg.Auth
	}
	var err error
	if app.auth, err = newLiveAuth(authCfg); err != nil {
		return authCfg, err
	}
	if app.tokens, err = auth.OpenStoredAPITokens(app.life, store, filepath.Join(cfg.Storage.Path, auth.APITokensFile)); err != nil {
		return authCfg, err
	}
	app.auth.Local.AddVerifier(app.tokens)
	return authCfg, nil
}

// mountFormats serves each package format (or its not-enabled answer)
// and returns what GC marks from and retention trims: every hosted
// registry, the OCI one first. Eviction spares what they hold; retention
// trims hosted OCI tags and Maven SNAPSHOT builds.
func (app *App) mountFormats(cfg AppConfig, deps pull.Deps, store cache.Store) ([]cache.Marker, []retention.Source, error) {
	markers := []cache.Marker{app.hosted}
	sources := []retention.Source{app.hosted}
	for _, f := range app.formats(cfg, deps, store) {
		if !f.enabled {
			for _, p := range f.prefixes {
				app.srv.Handle(p, f.name, notEnabled(f.name))
			}
			continue
		}
		h, reg, err := f.build()
		if err != nil {
			return nil, nil, fmt.Errorf("cannot set up %s: %w", f.name, err)
		}
		for _, p := range f.prefixes {
			app.srv.Handle(p, f.name, h.Serve)
		}
		if c, ok := h.(interface{ Close() }); ok {
			app.closers = append(app.closers, c.Close)
		}
		markers = append(markers, cache.Referenced(reg.Referenced))
		if s, ok := reg.(retention.Source); ok {
			sources = append(sources, s)
		}
		app.countUsage(f.name, reg)
		app.keepInventory(store, reg)
	}
	return markers, sources, nil
}

// mountDocker opens the hosted OCI state and serves /v2 and the token
// endpoint. The hosted state is opened even with docker off: GC and
// retention keep their view of what was pushed.
func (app *App) mountDocker(cfg AppConfig, client *upstream.Client, store cache.Store) error {
	hostedCfg := oci.DefaultConfig()
	if cfg.HostedOCI != nil {
		hostedCfg = *cfg.HostedOCI
	}
	var err error
	if app.hosted, err = oci.Open(app.life, store, app.cache, filepath.Join(cfg.Storage.Path, "hosted.db"), hostedCfg.Shared(cfg.Storage.Backend == "s3"), app.log); err != nil {
		return err
	}
	app.countUsage("docker", app.hosted)
	// Bearer tokens for /v2/, signed with a key kept in the store: a pull
	// or push under way goes on across a restart (the soak kills nora
	// mid-push), and instances sharing a bucket accept each other's tokens
	// behind a load balancer.
	tokens, err := auth.NewSharedTokens(app.life, store, auth.DefaultTokenTTL)
	if err != nil {
		return err
	}
	app.srv.Handle(tokenPath, "auth", (&tokenHandler{auth: app.auth, tokens: tokens, log: app.log}).serve)
	if !cfg.Docker.IsEnabled() {
		app.srv.Handle("/v2", "docker", notEnabled("docker"))
		return nil
	}
	app.docker, err = docker.New(cfg.Docker, docker.Deps{Cache: app.cache, Client: client, Hosted: app.hosted,
		Auth: app.auth, Tokens: tokens, PublicURL: cfg.Server.PublicURL, Log: app.log,
		Stall: cfg.Storage.StallTimeout.D(), Base: app.life})
	if err != nil {
		return err
	}
	app.srv.Handle("/v2", "docker", app.docker.Serve)
	return nil
}

// format is one package format: where it is served, and how its hosted
// state and handler are built.
type format struct {
	name     string
	prefixes []string
	enabled  bool
	build    func() (formatHandler, hostedState, error)
}

// hostedState is a format's hosted registry as GC sees it: every blob its
// packages refer to. One that is also a retention.Source is trimmed by
// the [[retention]] rules.
type hostedState interface {
	Referenced(fn func(digest.Digest) error) error
}

// formats opens each package format's hosted state on the store, in the
// server's lifetime, and hands it to the format's handler.
func (app *App) formats(cfg AppConfig, deps pull.Deps, store cache.Store) []format {
	ctx, c, log := app.life, app.cache, app.log
	return []format{
		{"npm", []string{"/npm/"}, cfg.Npm.IsEnabled(), func() (formatHandler, hostedState, error) {
			reg, err := hostednpm.Open(ctx, store, c, hostednpm.Options{Unpublish: cfg.Npm.Unpublish, Log: log})
			if err != nil {
				return nil, nil, err
			}
			h, err := npm.New(cfg.Npm, deps, reg)
			return h, reg, err
		}},
		// "/simple" without the slash: twine URLs are often written so.
		{"pypi", []string{"/simple", "/api/pypi/"}, cfg.PyPI.IsEnabled(), func() (formatHandler, hostedState, error) {
			reg, err := hostedpypi.Open(ctx, store, c, log)
			if err != nil {
				return nil, nil, err
			}
			h, err := pypi.New(cfg.PyPI, deps, reg)
			return h, reg, err
		}},
		{"maven", []string{"/maven2/"}, cfg.Maven.IsEnabled(), func() (formatHandler, hostedState, error) {
			reg, err := hostedmaven.Open(ctx, store, c, log)
			if err != nil {
				return nil, nil, err
			}
			h, err := maven.New(cfg.Maven, deps, reg)
			return h, reg, err
		}},
		{"cargo", []string{"/cargo/"}, cfg.Cargo.IsEnabled(), func() (formatHandler, hostedState, error) {
			reg, err := hostedcargo.Open(ctx, store, c, log)
			if err != nil {
				return nil, nil, err
			}
			h, err := cargo.New(cfg.Cargo, deps, reg)
			return h, reg, err
		}},
	}
}

// Addr is the address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// WaitLater returns once the writes that follow their replies have ended
// (cache.WaitLater): for tests that look in the store itself.
func (a *App) WaitLater() { a.cache.WaitLater() }

// Serve serves until ctx is cancelled, then drains open connections (bounded
// by a deadline) and closes the store.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	a.serveListeners(errc)
	go a.admin.Serve()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		err = a.srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; err == nil {
			err = serr
		}
	}
	if cerr := a.close(); err == nil {
		err = cerr
	}
	// ErrServerClosed: ctx ended before the server goroutine started.
	if errors.Is(err, net.ErrClosed) || errors.Is(err, ErrServerClosed) {
		err = nil
	}
	return err
}

// close releases what NewApp built, in reverse order.
func (a *App) close() error {
	if a.stop != nil { // detached fills end before the store closes
		a.stop()
	}
	if a.admin != nil { // its jobs use the hosted state and the cache
		a.admin.Close()
	}
	for _, c := range a.closers {
		c()
	}
	if a.docs != nil {
		a.docs.Close()
	}
	if a.docker != nil {
		a.docker.Close()
	}
	var err error
	if a.hosted != nil {
		err = a.hosted.Close()
	}
	if a.auth != nil {
		a.auth.Close()
	}
	_ = a.audit.Close()
	if cerr := a.cache.Close(); err == nil {
		err = cerr
	}
	return err
}

// countUsage counts what hosted registry reg of format holds in its
// tenants' usage.
func (app *App) countUsage(format string, reg any) {
	if src, ok := reg.(tenant.Source); ok {
		app.tenants.AddSource(format, src)
	}
}

// formatHandler is what every format package's New returns.
type formatHandler interface{ Serve(*fasthttp.RequestCtx) }

// newAdmin builds the admin API (DESIGN 3.5) on its unix socket: GC,
// retention and reindex as jobs, storage stats, the [gc] schedule and the
// API tokens, whose changes go to the audit log.
func newAdmin(cfg AppConfig, c *cache.Cache, store cache.Store, sources []retention.Source, tokens admin.TokenStore, tenants *tenant.Set, audit auth.Auditor, log *slog.Logger) (*admin.Server, error) {
	policy, err := retention.Compile(cfg.Retention)
	if err != nil {
		return nil, err
	}
	return admin.New(admin.Options{
		Socket:   admin.SocketPath(cfg.Server.AdminSocket, cfg.Storage.Path),
		Log:      log.With("component", "admin"),
		Schedule: cfg.GC.Schedule,
		Tokens:   tokens,
		Tenants:  tenants,
		Audit:    audit,
		Stats:    func(ctx context.Context) (any, error) { return c.Stats(ctx) },
		// On a shared store, GC and retention run on the lease holder.
		Precheck: func(job string) error {
			if job == "gc" || job == "retention" {
				return c.Lease().Check()
			}
			return nil
		},
		// nora backup of a running server streams from its own store.
		Backup: transfer.BackupTo(transfer.Side{Store: store, Path: cfg.Storage.Path}, c.TempDir()),
		Jobs: map[string]admin.Job{
			"gc": func(ctx context.Context, dry bool, progress func(done, total int64)) (any, error) {
				defer tenants.Recount()
				return c.GC(ctx, cache.GCOptions{Grace: cfg.GC.Grace.D(), DeleteUntagged: cfg.GC.DeleteUntagged, DryRun: dry, Progress: progress})
			},
			"retention": func(ctx context.Context, dry bool, _ func(done, total int64)) (any, error) {
				defer tenants.Recount()
				return policy.Apply(ctx, time.Now(), dry, sources...)
			},
			"reindex": func(ctx context.Context, _ bool, progress func(done, total int64)) (any, error) {
				return c.Reindex(ctx, progress)
			},
		},
	})
}

// logFormats logs one line per format: whether it serves, and from which
// upstreams (credentials redacted), with their TTL and offline flag, so that
// what a partial config file means is on record at start-up.
func logFormats(log *slog.Logger, cfg AppConfig) {
	line := func(format string, enabled bool, upstreams []string, ttl units.Duration, offline bool) {
		if !enabled {
			log.Info("format not enabled", "format", format)
			return
		}
		if upstreams == nil {
			upstreams = []string{} // logged as [], not null: none, hosted only
		}
		log.Info("format enabled", "format", format, "upstreams", upstreams, "ttl", ttl.D().String(), "offline", offline)
	}
	var ups []string
	for _, u := range cfg.Docker.Upstreams {
		s := u.Name + "=" + auth.RedactURL(u.URL) + " ttl=" + u.TTL.D().String()
		if u.Offline {
			s += " offline"
		}
		ups = append(ups, s)
	}
	if cfg.Docker.IsEnabled() {
		log.Info("format enabled", "format", "docker", "upstreams", append([]string{}, ups...))
	} else {
		line("docker", false, nil, 0, false)
	}
	one := func(u string) []string {
		if u == "" {
			return nil
		}
		return []string{auth.RedactURL(u)}
	}
	line("npm", cfg.Npm.IsEnabled(), one(cfg.Npm.Upstream), cfg.Npm.TTL, cfg.Npm.Offline)
	line("pypi", cfg.PyPI.IsEnabled(), one(cfg.PyPI.Upstream), cfg.PyPI.TTL, cfg.PyPI.Offline)
	ups = nil
	for _, u := range cfg.Maven.Upstreams {
		s := auth.RedactURL(u.URL)
		if u.Offline {
			s += " offline"
		}
		ups = append(ups, s)
	}
	line("maven", cfg.Maven.IsEnabled(), ups, cfg.Maven.TTL, cfg.Maven.Offline)
	line("cargo", cfg.Cargo.IsEnabled(), one(cfg.Cargo.Index), cfg.Cargo.TTL, cfg.Cargo.Offline)
}

// notEnabled answers every request under a format's prefixes when the file
// turned the format off (enabled = false), in the format's own error shape.
// 404, not 503: nothing is wrong that a retry could fix, and clients that
// try several registries move on.
func notEnabled(format string) fasthttp.RequestHandler {
	msg := format + " is not enabled on this nora"
	var body []byte
	contentType := "application/json"
	switch format {
	case "docker":
		body, _ = json.Marshal(map[string]any{"errors": []map[string]string{{"code": "UNSUPPORTED", "message": msg}}})
	case "npm":
		body, _ = json.Marshal(map[string]string{"error": msg})
	case "cargo":
		body, _ = json.Marshal(map[string]any{"errors": []map[string]string{{"detail": msg}}})
	default: // pypi, maven: a line of text
		contentType, body = "text/plain; charset=utf-8", []byte("404 Not Found: "+msg+"\n")
	}
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Reset()
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType(contentType)
		if format == "docker" {
			ctx.Response.Header.Set("Docker-Distribution-API-Version", "registry/2.0")
		}
		if ctx.IsHead() {
			ctx.Response.Header.SetContentLength(len(body))
			ctx.Response.SkipBody = true
			return
		}
		ctx.SetBody(body)
	}
}
