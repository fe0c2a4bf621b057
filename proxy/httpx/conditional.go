package httpx

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// NotModified reports whether the request's If-None-Match names etag (a
// quoted strong tag), with the weak comparison of RFC 9110 13.1.2: a W/
// prefix on either side is ignored, and "*" matches any current
// representation.
func NotModified(ctx *fasthttp.RequestCtx, etag string) bool {
	return etagListMatches(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), etag)
}

func etagListMatches(header []byte, etag string) bool {
	want := bytes.TrimPrefix([]byte(etag), []byte("W/"))
	for len(header) > 0 {
		var t []byte
		t, header, _ = bytes.Cut(header, []byte(","))
		t = bytes.TrimPrefix(bytes.TrimSpace(t), []byte("W/"))
		if len(want) > 0 && (bytes.Equal(t, []byte("*")) || bytes.Equal(t, want)) {
			return true
		}
	}
	return false
}
