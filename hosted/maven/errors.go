package maven

import (
	"fmt"

	"nora/internal/fault"
)

// Every refusal is a *fault.Error whose Msg the client may read; its Kind
// says which (the HTTP side maps it to a status):
//
//	fault.Invalid   a path or document a Maven client cannot have meant, a
//	                checksum file that disagrees with the stored file, a
//	                body that ended early or broke off (nothing was stored)
//	fault.NotFound  no such hosted file, version or metadata
//	fault.Conflict  the file exists, complete, with other bytes: every
//	                hosted file name is immutable (SNAPSHOT builds get new
//	                names)
//	fault.TooLarge  the upload is over the size cap
//	fault.NoSpace   the artifact's state document would exceed its cap
//
// Anything else is a storage failure, for the log only.

func invalidf(format string, args ...any) error {
	return fault.Newf(fault.Invalid, "invalid maven upload: "+format, args...)
}

func notFoundf(format string, args ...any) error {
	return fault.Newf(fault.NotFound, "not found in hosted repository: "+format, args...)
}

func conflict(path string) error {
	return fault.New(fault.Conflict, "file already deployed with different content: "+path)
}

func mismatchf(format string, args ...any) error {
	return fault.Newf(fault.Invalid, "checksum does not match the deployed file: "+format, args...)
}

func tooLargef(format string, args ...any) error {
	return fault.Newf(fault.TooLarge, "upload is larger than the size cap ([maven] max_upload_size): "+format, args...)
}

// truncatedf is a body that ended early (cause nil) or broke off.
func truncatedf(cause error, format string, args ...any) error {
	return fault.Wrap(fault.Invalid, cause, "upload body ended early"+fmt.Sprintf(format, args...))
}
