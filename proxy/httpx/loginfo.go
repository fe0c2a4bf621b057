// Package httpx holds the HTTP helpers the format handlers share: what the
// access log prints for a request, byte ranges, and serving immutable objects
// by stream (sendfile for files on disk). It knows no format and must not
// import package proxy.
package httpx

import (
	"github.com/valyala/fasthttp"
)

// requestInfoKey is the user value holding a request's *requestInfo.
type requestInfoKey struct{}

// requestInfo is what handlers report about one request.
type requestInfo struct {
	repository  string
	cacheResult string
	stream      *stream // the body set by SetBodyStream or ServeContent

	bodies   *Bodies // the server's, set by Attach
	bodySlot bool    // ReadBody holds one of bodies' slots
	bodyBusy bool    // ReadBody found no slot free
}

func info(ctx *fasthttp.RequestCtx, create bool) *requestInfo {
	if ri, ok := ctx.UserValue(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	if !create {
		return nil
	}
	ri := &requestInfo{}
	ctx.SetUserValue(requestInfoKey{}, ri)
	return ri
}

// SetLogInfo records what the access log prints for this request: the
// repository or package the request is about, and how the cache answered
// ("hit", "miss", "stale", "fill-wait" or "").
func SetLogInfo(ctx *fasthttp.RequestCtx, repository, cacheResult string) {
	ri := info(ctx, true)
	ri.repository = repository
	ri.cacheResult = cacheResult
}

// LogInfo returns what SetLogInfo recorded.
func LogInfo(ctx *fasthttp.RequestCtx) (repository, cacheResult string) {
	if ri := info(ctx, false); ri != nil {
		return ri.repository, ri.cacheResult
	}
	return "", ""
}
