package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"nora/auth"
)

// internal serves nora's own handlers on an in-memory listener to one
// caller inside the process (the prefetch runner, replication runs), so
// that what it fetches or pushes takes the normal path (shared fills,
// verification, hosted state). Its requests carry an identity only that
// caller has; no network client can reach the listener or use the token.
type internal struct {
	ln *fasthttputil.InmemoryListener
	fs *fasthttp.Server
	// Client dials the listener; any URL's host will do.
	Client *http.Client
}

// newInternal serves the listener of caller name, whose identity holds
// perms. after, if set, runs after each request is served (before its
// answer goes out). The listener closes with the app.
func (app *App) newInternal(name string, perms []string, after func(*fasthttp.RequestCtx)) (*internal, error) {
	v, err := newInternalVerifier(name, perms)
	if err != nil {
		return nil, err
	}
	app.auth.Local.AddVerifier(v)
	in := &internal{ln: fasthttputil.NewInmemoryListener()}
	in.fs = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			// Only this handler sets the credentials, and only the caller
			// reaches it.
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, v.header)
			app.srv.serveHTTP(ctx)
			if after != nil {
				after(ctx)
			}
		},
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{app.log},
	}
	go func() { _ = in.fs.Serve(in.ln) }()
	in.Client = &http.Client{Transport: &http.Transport{
		DialContext:         func(context.Context, string, string) (net.Conn, error) { return in.ln.Dial() },
		MaxIdleConnsPerHost: 8,
		DisableCompression:  true,
	}}
	return in, nil
}

// close stops serving, within 5 s.
func (in *internal) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = in.fs.ShutdownWithContext(ctx)
	_ = in.ln.Close()
}

// internalVerifier vouches for an internal caller's requests: a token
// made at start-up ("nora<name>_<hex>"), kept in memory, sent only on the
// in-memory listener. Its identity holds the caller's permissions
// whatever [auth] anonymous_read and the rules say, and nothing else.
type internalVerifier struct {
	prefix string
	token  string
	header string // the Authorization header carrying token
	id     *auth.Identity
}

func newInternalVerifier(name string, perms []string) (*internalVerifier, error) {
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	prefix := "nora" + name + "_"
	tok := prefix + hex.EncodeToString(b[:32])
	// The user name is unguessable too: failed logins for a known name
	// (the Guard limits them per name) must not lock the caller out.
	user := name + "-" + hex.EncodeToString(b[32:])
	ps, err := auth.ParsePermissions(perms)
	if err != nil {
		return nil, err
	}
	return &internalVerifier{
		prefix: prefix,
		token:  tok,
		header: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+tok)),
		id:     &auth.Identity{Name: name, Kind: auth.APIToken, Subjects: []string{"nora:" + name}, Limit: ps, Actor: name},
	}, nil
}

// Verify implements auth.TokenVerifier.
func (v *internalVerifier) Verify(tok string) (*auth.Identity, error) {
	if !strings.HasPrefix(tok, v.prefix) {
		return nil, auth.ErrNotMine
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(v.token)) != 1 {
		return nil, auth.ErrBadCredentials
	}
	return v.id, nil
}

// Current tells auth that the identity stands for as long as the process
// lives.
func (v *internalVerifier) Current(id *auth.Identity) bool { return id == v.id }
