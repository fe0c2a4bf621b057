package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"nora/auth"
	"nora/proxy/httpx"
	"nora/proxy/prefetch"
)

// prefetchBase is the URL the prefetch runner sends its requests to; they
// go through an in-memory listener, never the network.
const prefetchBase = "http://prefetch.nora.internal"

// mountPrefetch serves nora's own handlers on an in-memory listener that
// only the prefetch runner dials, so that a prefetch fills the cache
// through the normal path (shared fills, verification), and serves the
// runner at /api/v1/prefetch with the [[prefetch]] schedules.
func (app *App) mountPrefetch(cfg AppConfig) error {
	v, err := newPrefetchVerifier()
	if err != nil {
		return err
	}
	app.auth.Local.AddVerifier(v)
	ln := fasthttputil.NewInmemoryListener()
	fs := &fasthttp.Server{
		Handler:                      app.prefetchHandler(v.header),
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{app.log},
	}
	go func() { _ = fs.Serve(ln) }()
	client := &http.Client{Transport: &http.Transport{
		DialContext:         func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
		MaxIdleConnsPerHost: 8,
		DisableCompression:  true,
	}}
	o := prefetch.Options{Client: client, BaseURL: prefetchBase}
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil {
		o.LinkPrefix = strings.TrimSuffix(u.EscapedPath(), "/")
	}
	svc := prefetch.NewService(app.life, o,
		app.log.With("component", "prefetch"))
	app.closers = append(app.closers, func() {
		svc.Wait() // it ends with app.life
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = fs.ShutdownWithContext(ctx)
		_ = ln.Close()
	})
	app.mountOffline(client, o.LinkPrefix)
	return app.admin.SetPrefetch(svc, cfg.Prefetch)
}

// prefetchHandler is the Server's handler for the runner's requests: each
// carries the prefetch identity, and its answer says how the cache
// answered (prefetch.CacheHeader), which tells "fetched" from "cached".
// Only this handler sets the credentials, and only the runner reaches it.
func (app *App) prefetchHandler(authz string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set(fasthttp.HeaderAuthorization, authz)
		app.srv.serveHTTP(ctx)
		if _, c := httpx.LogInfo(ctx); c != "" {
			ctx.Response.Header.Set(prefetch.CacheHeader, c)
		}
	}
}

// prefetchTokenPrefix marks the prefetch identity's token; other
// verifiers leave it alone.
const prefetchTokenPrefix = "noraprefetch_"

// prefetchVerifier vouches for the runner's requests: a token made at
// start-up, kept in memory, sent only on the in-memory listener. It
// grants pull of everything, whatever [auth] anonymous_read and the rules
// say, and nothing else.
type prefetchVerifier struct {
	token  string
	header string // the Authorization header carrying token
	id     *auth.Identity
}

func newPrefetchVerifier() (*prefetchVerifier, error) {
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	tok := prefetchTokenPrefix + hex.EncodeToString(b[:32])
	// The user name is unguessable too: failed logins for a known name
	// (the Guard limits them per name) must not lock the runner out.
	user := "prefetch-" + hex.EncodeToString(b[32:])
	perms, err := auth.ParsePermissions([]string{"pull:**"})
	if err != nil {
		return nil, err
	}
	return &prefetchVerifier{
		token:  tok,
		header: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+tok)),
		id:     &auth.Identity{Name: "prefetch", Kind: auth.APIToken, Subjects: []string{"nora:prefetch"}, Limit: perms, Actor: "prefetch"},
	}, nil
}

// Verify implements auth.TokenVerifier.
func (v *prefetchVerifier) Verify(tok string) (*auth.Identity, error) {
	if !strings.HasPrefix(tok, prefetchTokenPrefix) {
		return nil, auth.ErrNotMine
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(v.token)) != 1 {
		return nil, auth.ErrBadCredentials
	}
	return v.id, nil
}

// Current tells auth that the prefetch identity stands, for as long as
// the process lives.
func (v *prefetchVerifier) Current(id *auth.Identity) bool { return id == v.id }
