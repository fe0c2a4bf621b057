package pypi

import (
	"fmt"

	"nora/internal/fault"
)

// Failures are classified with nora's fault kinds where they arise;
// proxy/pypi turns a kind into PyPI's plain-text wire error. The messages
// keep the phrases clients and scripts look for: PyPI's "File already
// exists" (twine --skip-existing), "digest mismatch", "invalid upload".

// invalid refuses an upload (or a yank) that does not describe itself
// consistently: file name, version, filetype, metadata.
func invalid(format string, args ...any) error {
	return fault.Newf(fault.Invalid, "invalid upload: "+format, args...)
}

// digestMismatch refuses an upload whose bytes do not match a digest it
// declared.
func digestMismatch(format string, args ...any) error {
	return fault.Newf(fault.Invalid, "digest mismatch: "+format, args...)
}

// exists refuses a file name published with other bytes: a name is
// published once, with one content, for good.
func exists(filename string) error {
	return fault.New(fault.Conflict, "File already exists: "+filename)
}

func notHosted(project string) error {
	return fault.Newf(fault.NotFound, "project %s is not hosted here", project)
}

func notFound(what string) error {
	return fault.New(fault.NotFound, "no such file or version: "+what)
}

// internal classifies a failure of the store: the client learns only that
// the index failed, the log gets the cause. A full disk stays recognisable
// (cache.IsNoSpace) through the wrap.
func internal(err error, format string, args ...any) error {
	return fault.Wrap(fault.Internal, err, fmt.Sprintf(format, args...))
}
