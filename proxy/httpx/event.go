package httpx

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Event kinds: what a request changed, for webhooks (DESIGN 3.5, the
// operating issue). Handlers record the first four; the server records a
// fill itself from the cache result "miss".
const (
	EventPush    = "push"    // an OCI manifest put (by tag or digest)
	EventTag     = "tag"     // a tag put on an existing manifest (images tag)
	EventDelete  = "delete"  // a manifest, tag, package version removed
	EventPublish = "publish" // an npm, PyPI, Maven or cargo package published
	EventFill    = "fill"    // a cold fill: fetched from an upstream and cached
)

// Event is one change a request made, as webhooks send it.
type Event struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"event"`
	Actor  string    `json:"actor"`
	Format string    `json:"format"`
	Name   string    `json:"name"`
	// Reference is a tag, version, file or digest.
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// eventKey is the user value holding a request's recorded *Event.
type eventKey struct{}

// SetEvent records what a write request changed: kind (EventPush, ...),
// its reference, digest and size. The server sends it on once the
// response is a success (2xx); the actor, format and name come from the
// request's authorization.
func SetEvent(ctx *fasthttp.RequestCtx, kind, reference, digest string, size int64) {
	ctx.SetUserValue(eventKey{}, &Event{Kind: kind, Reference: reference, Digest: digest, Size: size})
}

// EventOf is what SetEvent recorded, if anything.
func EventOf(ctx *fasthttp.RequestCtx) (*Event, bool) {
	e, ok := ctx.UserValue(eventKey{}).(*Event)
	return e, ok
}

// Done is what the server tells its observer (SetObserver) about each
// answered request, once its last byte is sent: the web UI's statistics
// (bytes served by cache result, most pulled names, last errors).
type Done struct {
	Start    time.Time
	Duration time.Duration
	Method   string
	Path     string // query secrets redacted
	Format   string // the route's format label ("docker", "npm", "ops", ...)
	// Repository and Cache are what the handler reported (SetLogInfo).
	Repository string
	Cache      string
	Status     int
	Bytes      int64 // body bytes sent
	Err        error // why the response broke off, if it did
}
