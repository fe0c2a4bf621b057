package oci

import "nora/internal/fault"

// The refusals of the hosted registry, classified by a fault.Kind so any
// caller may ask errors.Is(err, fault.NotFound) as well as
// errors.Is(err, ErrManifestUnknown). They are wrapped with details built
// from the request's own values (digests, sizes, tags), never with paths;
// proxy/docker turns each into its OCI code at its edge.
var (
	ErrNameUnknown         = fault.New(fault.NotFound, "repository is not hosted here")
	ErrManifestUnknown     = fault.New(fault.NotFound, "manifest unknown")
	ErrManifestInvalid     = fault.New(fault.Invalid, "manifest invalid")
	ErrManifestBlobUnknown = fault.New(fault.Invalid, "manifest references an unknown blob or manifest")
	ErrBlobUnknown         = fault.New(fault.NotFound, "blob unknown")
	ErrDigestInvalid       = fault.New(fault.Invalid, "digest invalid")
	ErrUploadUnknown       = fault.New(fault.NotFound, "upload session unknown")
	ErrUploadBusy          = fault.New(fault.Conflict, "upload session is in use by another request")
	ErrRangeInvalid        = fault.New(fault.Invalid, "chunk does not continue the upload")
	ErrTruncated           = fault.New(fault.Invalid, "upload body ended early")
	// ErrTooManyUploads asks the client to come back once sessions ended.
	ErrTooManyUploads = &fault.Error{Kind: fault.RateLimited, Msg: "too many upload sessions", RetryAfter: 10}
)

// ErrNameInvalid is a repository name, tag or digest that cannot be a key
// of hosted state; proxy/docker validates names first, so it is a guard.
var ErrNameInvalid = fault.New(fault.Invalid, "invalid repository name, tag or digest")
