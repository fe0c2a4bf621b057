package maven

// The cache keys of the maven proxy, in one place. Each kind has its own
// fixed segment after refs/maven/, and every ref derived from a repository
// path is a leaf named "@" (a character parsePath refuses) in a directory
// tree that mirrors the path, so no path's ref can be another path's
// directory. Bytes live under the shared cache.BlobKey.

// fileKey is the ref of an immutable file cached from an upstream.
func fileKey(path string) string { return "refs/maven/files/" + path + "/@" }

// docKey is the ref of a mutable document of upstream u.
func docKey(u *upstreamRepo, path string) string {
	return "refs/maven/docs/" + u.id + "/" + path + "/@"
}

// sumKey is the ref of the alg checksum nora computed of a cached blob.
func sumKey(alg, sha256hex string) string { return "refs/maven/sums/" + alg + "/" + sha256hex }

// missKey names path of upstream u in the negative cache (memory only).
func missKey(u *upstreamRepo, path string) string { return u.id + " " + path }
