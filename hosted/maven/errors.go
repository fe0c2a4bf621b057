package maven

import "errors"

// The errors callers translate into HTTP answers. They are wrapped with
// details; test with errors.Is.
var (
	// ErrInvalid: a path or document a Maven client cannot have meant (400).
	ErrInvalid = errors.New("invalid maven upload")
	// ErrNotFound: no such hosted file, version or metadata (404).
	ErrNotFound = errors.New("not found in hosted repository")
	// ErrConflict: the file exists, complete, with other bytes (409).
	// Every hosted file name is immutable; SNAPSHOT builds get new names.
	ErrConflict = errors.New("file already deployed with different content")
	// ErrChecksum: a checksum file disagrees with the stored file (400).
	ErrChecksum = errors.New("checksum does not match the deployed file")
	// ErrTooLarge: the upload is over the size cap (413).
	ErrTooLarge = errors.New("upload is larger than the size cap")
	// ErrTruncated: the body ended before its declared length or broke off
	// (400). Nothing was stored.
	ErrTruncated = errors.New("upload body ended early")
	// ErrFull: the artifact's state document would exceed its cap (507).
	ErrFull = errors.New("too many files deployed for this artifact")
)
