package oci

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// The key namespace of hosted OCI state, in one place (the layout is in
// the package comment). Blob and manifest bytes use the shared store's
// cache.BlobKey; these are the keys of the state objects and of GC's
// report.
const (
	namesKey      = "hosted/oci/repos.json"
	reposPrefix   = "hosted/oci/repos/"
	uploadsPrefix = "hosted/oci/uploads/"

	// A repository's records live under these elements. An OCI name
	// component never starts with "_", so no nested repository reaches
	// them.
	tagsDir      = "/_tags/"
	manifestsDir = "/_manifests/"
	blobsDir     = "/_blobs/"
	referrersDir = "/_referrers/"
)

// repoKey is the key of a record of repository name: dir is one of the
// *Dir elements, elem the tag or digest. A name, tag or digest that would
// leave its place (a "/" in a tag, ".." in a name) is refused.
func repoKey(name, dir, elem string) (string, error) {
	key := reposPrefix + name + dir + elem
	if strings.Contains(elem, "/") || cache.CheckKey(key) != nil {
		return "", fmt.Errorf("%w: %q in %s", ErrNameInvalid, elem, name)
	}
	return key, nil
}

// repoDir is the prefix under which the records of one kind of
// repository name live.
func repoDir(name, dir string) string { return reposPrefix + name + dir }

// referrerDir is the prefix of the referrer records of subject.
func referrerDir(name string, subject digest.Digest) string {
	return repoDir(name, referrersDir) + string(subject) + "/"
}

// uploadStateKey is the state object of shared upload session id.
func uploadStateKey(id string) string { return uploadsPrefix + id + "/state" }

// chunkKey is the object of a chunk of session id that starts at off; the
// writer's nonce keeps two instances that race for one offset apart.
func chunkKey(id string, off int64, nonce string) string {
	return fmt.Sprintf("%s%s/%020d-%s", uploadsPrefix, id, off, nonce)
}

// gcItemKey names a manifest or blob link of repository name in GC's
// report: "oci:<name>@<digest>".
func gcItemKey(name string, d digest.Digest) string {
	return itemFormat + ":" + name + "@" + string(d)
}

// itemFormat is the format hosted OCI items carry in GC and retention
// reports.
const itemFormat = "oci"
