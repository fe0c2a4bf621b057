// Package oci is the hosted half of nora's OCI registry: what local pushes
// create. Repositories, their tags, manifests, blob links and referrers live
// in a bbolt file; the bytes of blobs and manifests live in the shared
// content-addressed store (cache.BlobKey), so hosted and proxied content
// share identical blobs. Upload sessions stream into temp files of the
// store and are committed atomically once their digest is verified.
//
// The package knows no HTTP: proxy/docker translates requests into these
// calls and these errors into the distribution-spec's wire errors.
package oci

import "time"

// Config tunes the hosted registry. It is not part of nora.toml yet.
type Config struct {
	// UploadIdle is how long an upload session may see no request before
	// the janitor cancels it and removes its temp file. A request that is
	// streaming a body keeps its session alive however long it takes.
	UploadIdle time.Duration
	// MaxUploads caps the upload sessions open at once.
	MaxUploads int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{UploadIdle: 10 * time.Minute, MaxUploads: 64}
}
