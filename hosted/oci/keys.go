package oci

import "github.com/opencontainers/go-digest"

// The key namespace of hosted OCI state, in one place: blob and manifest
// bytes use the shared store's cache.BlobKey; these are the keys of the
// state file and of GC's report.

// referrerKey is the key of manifest d in its subject's referrers bucket:
// the subject first, so one seek lists a subject's referrers.
func referrerKey(subject, d digest.Digest) []byte {
	return append(referrerPrefix(subject), d...)
}

// referrerPrefix starts every referrer key of subject; NUL ends it, as no
// digest holds one.
func referrerPrefix(subject digest.Digest) []byte {
	return []byte(string(subject) + "\x00")
}

// gcItemKey names a manifest or blob link of repository name in GC's
// report: "oci:<name>@<digest>".
func gcItemKey(name string, d digest.Digest) string {
	return itemFormat + ":" + name + "@" + string(d)
}

// itemFormat is the format hosted OCI items carry in GC and retention
// reports.
const itemFormat = "oci"
