package docker

import (
	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// The proxied side's cache keys, all under refs/docker/. Hosted state keys
// belong to nora/hosted/oci.

// tagKey is the ref of a proxied tag: the digest of the manifest it
// pointed at when last asked.
func tagKey(rt route, tag string) string {
	return "refs/docker/" + rt.up.cfg.Name + "/" + rt.repo + "/_tags/" + tag
}

// tagListKey is the ref of a proxied repository's first tags/list page,
// kept to answer while the upstream is down.
func tagListKey(rt route) string {
	return "refs/docker/" + rt.up.cfg.Name + "/" + rt.repo + "/_taglist"
}

// mediaTypeKey is the ref holding a proxied manifest's media type.
func mediaTypeKey(d digest.Digest) string { return "refs/docker/_mediatypes/" + cache.BlobKey(d) }
