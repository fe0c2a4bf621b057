package cargo

import "errors"

// Kinds of failure the HTTP side turns into cargo's error shape; the error
// text (wrapping one of these) is the detail cargo shows the user.
var (
	// ErrInvalid: the publish body or its metadata is malformed, cut off or
	// not a .crate of the crate it names (400).
	ErrInvalid = errors.New("invalid publish request")
	// ErrTooLarge: the body is larger than the configured cap (413).
	ErrTooLarge = errors.New("publish request too large")
	// ErrExists: the version is already published (409).
	ErrExists = errors.New("version already published")
	// ErrConflict: the name collides with another hosted crate's (409).
	ErrConflict = errors.New("crate name conflict")
	// ErrNotFound: no such hosted crate or version (404).
	ErrNotFound = errors.New("not found")
)

// kindError is an error of a Kind with its own message.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func invalid(msg string) error  { return &kindError{ErrInvalid, msg} }
func notFound(msg string) error { return &kindError{ErrNotFound, msg} }
