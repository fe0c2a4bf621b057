package pypi

import "errors"

// The errors callers translate into PyPI's plain-text wire errors. They are
// wrapped with details; test with errors.Is.
var (
	ErrNotHosted = errors.New("project is not hosted here")
	ErrNotFound  = errors.New("no such file or version")
	// ErrExists is PyPI's "File already exists": a file name is published
	// once, with one content, for good.
	ErrExists = errors.New("file already exists")
	// ErrInvalid is an upload that does not describe itself consistently
	// (file name, version, filetype, metadata).
	ErrInvalid = errors.New("invalid upload")
	// ErrDigest is an upload whose bytes do not match a digest it declared.
	ErrDigest = errors.New("digest mismatch")
)
