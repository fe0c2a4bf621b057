package npm

import (
	"fmt"

	"nora/internal/fault"
)

// Failures are classified with nora's fault kinds where they arise;
// proxy/npm turns a kind into a status and npm's {"error": ...} shape.
// Only a classified error's message reaches the client: the others name
// paths of the store.

// ErrPublished is the cause of a refused re-publish: the version is (or
// was) published, and a number is never used twice. Its kind is Conflict;
// npm's edge answers it with the 403 the public registry sends.
var ErrPublished = fault.New(fault.Conflict, "the version is or was published")

func errorf(k fault.Kind, format string, args ...any) error {
	return fault.Newf(k, format, args...)
}

// published refuses a re-publish with msg.
func published(msg string) error { return fault.Wrap(fault.Conflict, ErrPublished, msg) }

// internal classifies a failure of the store as Internal: the client
// learns only that the registry failed, the log gets the cause. A full
// disk stays recognisable (cache.IsNoSpace) through the wrap.
func internal(err error, format string, args ...any) error {
	return fault.Wrap(fault.Internal, err, fmt.Sprintf(format, args...))
}

// ErrTooLarge is a publish request over Limits.MaxBody: the body reader's
// error, and the handler's for a declared Content-Length over the cap.
var ErrTooLarge = fault.New(fault.TooLarge, "the publish request is larger than this registry accepts ([npm] max_publish_size)")
