package oci

import "errors"

// The errors callers translate into wire errors. They are wrapped with
// details; test with errors.Is.
var (
	ErrNameUnknown         = errors.New("repository is not hosted here")
	ErrManifestUnknown     = errors.New("manifest unknown")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestBlobUnknown = errors.New("manifest references an unknown blob or manifest")
	ErrBlobUnknown         = errors.New("blob unknown")
	ErrDigestInvalid       = errors.New("digest invalid")
	ErrUploadUnknown       = errors.New("upload session unknown")
	ErrUploadBusy          = errors.New("upload session is in use by another request")
	ErrRangeInvalid        = errors.New("chunk does not continue the upload")
	ErrTruncated           = errors.New("upload body ended early")
	ErrTooManyUploads      = errors.New("too many upload sessions")
)
