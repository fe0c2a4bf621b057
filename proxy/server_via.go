package proxy

import (
	"context"
	"log/slog"

	"github.com/valyala/fasthttp"

	"nora/upstream"
)

// SetVia gives the server this nora's place in a chain of noras (the
// upstream client's): a request whose X-Nora-Via names this nora is
// answered 508, and the others' chains are carried on upstream while they
// are served. nil (the default) checks nothing. Call it before Serve.
func (s *Server) SetVia(v *upstream.Via) { s.via = v }

// enterVia checks a request that came through other noras. It reports a
// loop, or returns what to call when the request is done (nil: nothing).
// A request without X-Nora-Via (a client's) costs one header lookup.
func (s *Server) enterVia(ctx *fasthttp.RequestCtx) (leave func(), loop bool) {
	if s.via == nil {
		return nil, false
	}
	chain := ctx.Request.Header.Peek(upstream.HeaderVia)
	if len(chain) == 0 {
		return nil, false
	}
	if s.via.Holds(chain) {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "request loop detected: this nora's upstreams lead back to it",
			slog.String("instance", s.via.ID()), slog.String("chain", string(chain)),
			slog.String("path", string(ctx.Path())))
		return nil, true
	}
	return s.via.Enter(string(chain)), false
}

// loopDetected answers a request that already went through this nora.
// The ids stay in the logs: an id a client learnt could be sent to stop
// this nora's fills from the noras that name it.
func (s *Server) loopDetected(ctx *fasthttp.RequestCtx) {
	ctx.Error("loop detected: this nora is already in the request's "+upstream.HeaderVia+
		"; its log names the noras of the chain\n", upstream.StatusLoopDetected)
}
