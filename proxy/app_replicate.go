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
	"nora/internal/fault"
	"nora/proxy/replicate"
)

// replicateBase is the local nora as a replication endpoint: requests go
// through an in-memory listener, never the network.
const replicateBase = "http://replicate.nora.internal"

// mountReplicate serves nora's own handlers on an in-memory listener only
// the replication runs dial, with an identity that may pull, push and
// administer, and serves the runs at /api/v1/replicate with the
// [replication] schedules.
func (app *App) mountReplicate(cfg AppConfig) error {
	v, err := newReplicateVerifier()
	if err != nil {
		return err
	}
	app.auth.Local.AddVerifier(v)
	ln := fasthttputil.NewInmemoryListener()
	fs := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			// Only this handler sets the credentials, and only runs reach it.
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, v.header)
			app.srv.serveHTTP(ctx)
		},
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{app.log},
	}
	go func() { _ = fs.Serve(ln) }()
	local := replicate.Endpoint{Name: "local", URL: replicateBase, Client: &http.Client{Transport: &http.Transport{
		DialContext:         func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
		MaxIdleConnsPerHost: 8,
		DisableCompression:  true,
	}}}
	svc := replicate.NewService(app.life, replicateResolver(cfg, local), app.log.With("component", "replicate"))
	app.closers = append(app.closers, func() {
		svc.Wait() // it ends with app.life
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = fs.ShutdownWithContext(ctx)
		_ = ln.Close()
	})
	return app.admin.SetReplicate(svc, cfg.Replication.Schedules)
}

// replicateResolver turns a request into a run between local and a
// remote of [[replication.remotes]], or from a docker upstream's name
// (its images pulled through the local cache) into the local nora.
func replicateResolver(cfg AppConfig, local replicate.Endpoint) replicate.Resolver {
	remotes := map[string]replicate.Remote{}
	for _, r := range cfg.Replication.Remotes {
		remotes[r.Name] = r
	}
	upstreams := map[string]bool{}
	for _, u := range cfg.Docker.Upstreams {
		upstreams[u.Name] = true
	}
	movers := append([]replicate.Mover{replicate.OCI{}}, replicate.Movers()...)
	return func(req replicate.Request) (replicate.Options, error) {
		o := replicate.Options{Source: local, Target: local, Movers: movers}
		name := req.To + req.From
		r, ok := remotes[name]
		switch {
		case ok:
			tok, err := r.ReadToken()
			if err != nil {
				return o, fault.Wrap(fault.Unavailable, err, "replicate: the token of "+name)
			}
			remote := replicate.Endpoint{Name: r.Name, URL: strings.TrimSuffix(r.URL, "/"), Token: tok}
			if req.To != "" {
				o.Target = remote
			} else {
				o.Source = remote
			}
		case req.From != "" && upstreams[name]:
			// The upstream's name is the first path element of its images.
			o.Source.Prefix = name + "/"
			o.Movers = []replicate.Mover{replicate.OCI{}}
		default:
			return o, fault.Newf(fault.NotFound, "replicate: no remote (or docker upstream) %q", name)
		}
		return o, nil
	}
}

// replicateTokenPrefix marks the replication identity's token; other
// verifiers leave it alone.
const replicateTokenPrefix = "norareplicate_"

// replicateVerifier vouches for the runs' requests: a token made at
// start-up, kept in memory, sent only on the in-memory listener.
type replicateVerifier struct {
	token  string
	header string
	id     *auth.Identity
}

func newReplicateVerifier() (*replicateVerifier, error) {
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	tok := replicateTokenPrefix + hex.EncodeToString(b[:32])
	// An unguessable name: failed logins for a known one could lock it out.
	user := "replicate-" + hex.EncodeToString(b[32:])
	perms, err := auth.ParsePermissions([]string{"pull:**", "push:**", "admin:**"})
	if err != nil {
		return nil, err
	}
	return &replicateVerifier{
		token:  tok,
		header: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+tok)),
		id:     &auth.Identity{Name: "replicate", Kind: auth.APIToken, Subjects: []string{"nora:replicate"}, Limit: perms, Actor: "replicate"},
	}, nil
}

// Verify implements auth.TokenVerifier.
func (v *replicateVerifier) Verify(tok string) (*auth.Identity, error) {
	if !strings.HasPrefix(tok, replicateTokenPrefix) {
		return nil, auth.ErrNotMine
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(v.token)) != 1 {
		return nil, auth.ErrBadCredentials
	}
	return v.id, nil
}

// Current tells auth that the identity stands for as long as the process
// lives.
func (v *replicateVerifier) Current(id *auth.Identity) bool { return id == v.id }
