package inventory

import (
	"context"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/fault"
)

// Evicted is what Evict removed.
type Evicted struct {
	// Items are the cached image tags or package files the ref named.
	Items   int   `json:"items"`
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// Evict removes from the cache the proxied objects ref names, as eviction
// would (the next pull fetches them again); the refs stay, as after an
// eviction. ref is one of:
//   - a key `nora cache ls` lists ("refs/..."): that image tag or file;
//   - "<format>:<name>" for a package format (npm, pypi, maven as
//     "maven:group:artifact", cargo): every cached file of the package;
//   - "<upstream>/<repository>[:<tag>]": that proxied image's tag, or all
//     its tags, with their manifests and layers.
//
// Hosted content is never evicted: a ref naming a hosted package or image
// is fault.Conflict; one that names nothing cached is fault.NotFound. An
// object a hosted image or package shares is spared.
func (i *Inventory) Evict(ctx context.Context, ref string) (Evicted, error) {
	format, prefix, exact, err := i.evictPrefix(ctx, ref)
	if err != nil {
		return Evicted{}, err
	}
	var ev Evicted
	var keys []string
	err = i.list(ctx, prefix, func(key string) error {
		if exact && key != prefix || !isItem(format, key) {
			return nil
		}
		if r, ok := i.cachedFile(ctx, key); ok {
			ev.Items++
			keys = append(keys, i.objectKeys(ctx, format, r.digest)...)
		}
		return nil
	})
	if err != nil {
		return ev, err
	}
	if ev.Items == 0 {
		return ev, fault.Newf(fault.NotFound, "nothing cached under %s", ref)
	}
	n, freed, err := i.d.Cache.EvictKeys(ctx, keys)
	if err != nil {
		return ev, fault.Wrap(fault.Conflict, err, err.Error())
	}
	ev.Objects, ev.Bytes = n, freed
	return ev, nil
}

// isItem tells whether key is the ref of a cached image tag or package
// file of format.
func isItem(format, key string) bool {
	if format == "docker" {
		_, _, ok := dockerTag(key)
		return ok
	}
	_, _, _, ok := fileRef(format, key)
	return ok
}

// evictPrefix turns ref into its format and the prefix of its refs (ref
// itself for an exact key), refusing hosted names.
func (i *Inventory) evictPrefix(ctx context.Context, ref string) (format, prefix string, exact bool, err error) {
	if strings.HasPrefix(ref, "refs/") {
		for _, f := range Formats {
			p := fileRefs[f]
			if f == "docker" {
				p = dockerRefs
			}
			if strings.HasPrefix(ref, p) {
				return f, ref, true, nil
			}
		}
		return "", "", false, fault.Newf(fault.Invalid, "%s is not the key of a cached image tag or package file", ref)
	}
	if f, name, ok := strings.Cut(ref, ":"); ok && fileRefs[f] != "" && !strings.Contains(f, "/") {
		if hosted, _ := i.hosted(ctx, f, name); len(hosted) > 0 {
			return "", "", false, fault.Newf(fault.Conflict, "%s package %s is hosted here: hosted content is never evicted", f, name)
		}
		return f, namePrefix(f, name), false, nil
	}
	repo, tag := splitTag(ref)
	if i.d.OCI != nil && i.d.OCI.Exists(repo) {
		return "", "", false, fault.Newf(fault.Conflict, "image %s is hosted here: hosted content is never evicted (nora images delete removes it)", repo)
	}
	return "docker", namePrefix("docker", repo) + tag, tag != "", nil
}

// splitTag splits "repo:tag" (a colon after the last slash) into its
// parts; the tag is "" if there is none.
func splitTag(ref string) (repo, tag string) {
	j := strings.LastIndexByte(ref, ':')
	if j > strings.LastIndexByte(ref, '/') {
		return ref[:j], ref[j+1:]
	}
	return ref, ""
}

// objectKeys are the index keys of what a cached item holds: a file's
// object; an image's manifest, and its config and layers, or an index's
// children and theirs.
func (i *Inventory) objectKeys(ctx context.Context, format string, d digest.Digest) []string {
	keys := []string{cache.BlobKey(d)}
	if format != "docker" {
		return keys
	}
	var m manifestDoc
	if i.readJSON(ctx, d, &m) != nil {
		return keys
	}
	keys = append(keys, blobKeys(m)...)
	for _, c := range m.Manifests {
		keys = append(keys, cache.BlobKey(c.Digest))
		var child manifestDoc
		if i.readJSON(ctx, c.Digest, &child) == nil {
			keys = append(keys, blobKeys(child)...)
		}
	}
	return keys
}

func blobKeys(m manifestDoc) []string {
	var keys []string
	if m.Config != nil && m.Config.Digest.Validate() == nil {
		keys = append(keys, cache.BlobKey(m.Config.Digest))
	}
	for _, l := range m.Layers {
		if l.Digest.Validate() == nil {
			keys = append(keys, cache.BlobKey(l.Digest))
		}
	}
	return keys
}
