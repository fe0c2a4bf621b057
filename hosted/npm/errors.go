package npm

import (
	"errors"
	"fmt"
)

// Kind classifies what went wrong with a request on hosted state;
// proxy/npm turns it into a status and npm's {"error": ...} shape.
type Kind int

const (
	KindInvalid   Kind = iota + 1 // a malformed or inconsistent document: 400
	KindTooLarge                  // over a cap: 413
	KindNotFound                  // no such package, version, tag or file: 404
	KindExists                    // the version is (or was) published: 403
	KindForbidden                 // the unpublish policy refuses: 403
	KindConflict                  // the document changed since the client read it: 409
)

// Error is a classified failure. Anything else is an internal error.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of err, 0 for an internal error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// errTooLarge is what the body reader returns past the cap.
var errTooLarge = &Error{Kind: KindTooLarge, Msg: "the publish request is larger than this registry accepts ([npm] max_publish_size)"}
