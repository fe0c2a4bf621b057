package httpx

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// NoSpaceMessage is all a client learns of a full store (cache.IsNoSpace):
// the HTTP status 507 says the rest. The error itself, which names paths of
// the store, goes to the log only.
const NoSpaceMessage = "insufficient storage"

// LocalFault reports whether err is a failure of nora's own file system: its
// text names paths of the store, which no response may show, and the client
// can do nothing about it. A handler answers it as an internal error (or 507
// when cache.IsNoSpace), whatever else err says it is: a body that "ended
// early" because its temp file could not be written is not the client's
// fault.
func LocalFault(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le)
}

// maxDrain bounds how much of a refused request's body Drain reads.
const maxDrain = 32 << 20

// Drain reads and drops what is left of a request body that a handler
// refuses or stopped reading (the store filled up mid-upload), up to
// 32 MiB, and marks the connection to be closed if that was not all of it.
// A client still sending when the server closes gets a reset, which can
// discard the answer before the client reads it. Under the server's Bodies
// the rest must arrive within its timeout: a refused client must not hold
// its connection by sending slowly.
func Drain(ctx *fasthttp.RequestCtx) {
	r := ctx.RequestBodyStream()
	if r == nil {
		return
	}
	if ctx.Request.Header.ContentLength() > maxDrain {
		ctx.SetConnectionClose() // not worth reading to close anyway
		return
	}
	if ri := info(ctx, false); ri != nil && ri.bodies != nil && ri.bodies.timeout > 0 {
		setBodyDeadline(ctx, time.Now().Add(ri.bodies.timeout))
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, maxDrain+1))
	if err != nil || n > maxDrain {
		ctx.SetConnectionClose()
	}
}
