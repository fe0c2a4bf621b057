// Package fault is nora's one error idiom: a failure is classified by a
// Kind where it arises (the store, the upstream engine, hosted state) and
// turned into a wire error only at the edge, by each format's handler (OCI
// {"errors":[...]}, npm {"error":...}, PyPI plain text, cargo {"errors":[...]}).
//
// A Kind is itself an error, so callers ask errors.Is(err, fault.NotFound);
// an *Error carries the message a client may read, the cause for the logs
// and, for a rate limit, the seconds to wait. Sentinels of other packages
// (cache.ErrNotFound) are *Errors too and are compared with errors.Is,
// never with ==.
package fault

import (
	"errors"
	"fmt"
)

// Kind says what went wrong, from the client's point of view.
type Kind uint8

const (
	Internal    Kind = iota // a bug or an unclassified failure: 500 (or 503 upstream)
	NotFound                // no such name, version, file: 404
	Invalid                 // the client's request or input is malformed: 400
	Conflict                // it exists and may not be replaced: 409
	TooLarge                // over a configured or protocol cap: 413
	Denied                  // refused by policy (not by credentials): 403
	Unavailable             // upstream down, offline or failing, and not cached: 503
	RateLimited             // upstream (or nora) rate limit: 429 with Retry-After
	BadUpstream             // upstream sent something unusable (bad digest, garbage): 502
	NoSpace                 // the disk is full: 507
	Gone                    // removed for good (yanked, unpublished, deleted): 410
)

var names = [...]string{
	Internal: "internal error", NotFound: "not found", Invalid: "invalid",
	Conflict: "conflict", TooLarge: "too large", Denied: "denied",
	Unavailable: "unavailable", RateLimited: "rate limited",
	BadUpstream: "bad upstream", NoSpace: "no space", Gone: "gone",
}

func (k Kind) Error() string {
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Error is a classified failure.
type Error struct {
	Kind Kind
	// Msg is what the client may read: no paths, no credentials.
	Msg string
	// Err is the cause, kept for the logs.
	Err error
	// RetryAfter is the seconds a RateLimited client should wait (0:
	// unknown).
	RetryAfter int
}

func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, kind) true for an Error of that kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// New is a failure of kind k with a message for the client.
func New(k Kind, msg string) *Error { return &Error{Kind: k, Msg: msg} }

// Newf is New with a format.
func Newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies cause as k, with msg for the client; cause stays
// reachable with errors.Is/As for the logs and for finer checks.
func Wrap(k Kind, cause error, msg string) *Error { return &Error{Kind: k, Msg: msg, Err: cause} }

// KindOf returns the kind of err: the outermost *Error's, else a bare Kind
// in the chain, else Internal. nil is Internal too (callers check nil
// first).
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return Internal
}

// Message is what the client may read of err: the outermost *Error's
// message, else a generic phrase of its kind (an unclassified error's own
// text may hold paths and is for the logs only).
func Message(err error) string {
	var fe *Error
	if errors.As(err, &fe) && fe.Msg != "" {
		return fe.Msg
	}
	return KindOf(err).Error()
}

// RetryAfter is the seconds a rate-limited err asks to wait, 0 if unknown.
func RetryAfter(err error) int {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.RetryAfter
	}
	return 0
}
