package proxy

import (
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

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
	in, err := app.newInternal("prefetch", []string{"pull:**"}, cacheAnswer)
	if err != nil {
		return err
	}
	o := prefetch.Options{Client: in.Client, BaseURL: prefetchBase}
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil {
		o.LinkPrefix = strings.TrimSuffix(u.EscapedPath(), "/")
	}
	svc := prefetch.NewService(app.life, o,
		app.log.With("component", "prefetch"))
	app.closers = append(app.closers, func() {
		svc.Wait() // it ends with app.life
		in.close()
	})
	app.mountOffline(in.Client, o.LinkPrefix)
	return app.admin.SetPrefetch(svc, cfg.Prefetch)
}

// cacheAnswer says in the runner's answers how the cache answered
// (prefetch.CacheHeader), which tells "fetched" from "cached".
func cacheAnswer(ctx *fasthttp.RequestCtx) {
	if _, c := httpx.LogInfo(ctx); c != "" {
		ctx.Response.Header.Set(prefetch.CacheHeader, c)
	}
}
