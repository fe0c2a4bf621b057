// Package oci is the hosted half of nora's OCI registry: what local pushes
// create. Its state lives in the shared cache.Store as small objects, one
// per record, so that every nora instance on one store (one S3 bucket
// behind a load balancer) sees a push at once, and on disk alike:
//
//	hosted/oci/repos.json                                  hosted repository names (JSON array, hosted.Names)
//	hosted/oci/repos/<name>/_tags/<tag>                    tagRecord (JSON)
//	hosted/oci/repos/<name>/_manifests/<digest>            manifestRecord (JSON)
//	hosted/oci/repos/<name>/_blobs/<digest>                link: size, unix nanos linked (8 bytes each, big endian)
//	hosted/oci/repos/<name>/_referrers/<subject>/<digest>  v1.Descriptor (JSON)
//	hosted/oci/uploads/<id>/state                          shared upload session (uploads_shared.go)
//	hosted/oci/uploads/<id>/<offset>-<nonce>               one chunk of it
//
// An OCI name component never starts with "_", so a record never collides
// with a nested repository. Records are written whole and never rewritten
// from a read; the names object and upload states are read-modify-written
// with cache.Update (compare and swap), so instances never lose each
// other's writes. Every read goes to the store, except "is this name
// hosted?": a yes is kept in memory (a repository stays hosted), a no is
// believed for one second at most. Blob and manifest bytes live in the
// content-addressed store (cache.BlobKey), so hosted and proxied content
// share identical blobs. Upload sessions stream into temp files of the
// store and are committed atomically once their digest is verified.
// Hosted state from an older nora (a bbolt file, hosted.db) is imported on
// the first Open (import.go).
//
// The package knows no HTTP: proxy/docker translates requests into these
// calls and these errors into the distribution-spec's wire errors.
package oci

import "time"

// Config tunes the hosted registry. It is not part of nora.toml yet.
type Config struct {
	// UploadIdle is how long an upload session may see no request (shared:
	// no new chunk) before the janitor cancels it and removes its temp
	// file and objects. A request that is streaming a body keeps its
	// session alive on its instance however long it takes.
	UploadIdle time.Duration
	// MaxUploads caps the upload sessions open at once on this instance.
	// Each holds one temp file open and little memory; a CI rack pushing
	// a hundred images at once keeps several layers of each in flight.
	MaxUploads int
	// SharedUploads keeps upload sessions in the store, so that the chunks
	// and the final PUT of one push may reach different instances that
	// share the store (the S3 backend). Off, sessions live in this
	// instance's memory and temp files only, as fast as a local disk.
	SharedUploads bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{UploadIdle: 10 * time.Minute, MaxUploads: 512}
}

// Shared returns c with SharedUploads set to shared.
func (c Config) Shared(shared bool) Config {
	c.SharedUploads = shared
	return c
}
