package inventory

import (
	"context"
	"slices"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
)

// DefaultLimit is how many cached items Cached lists when asked for none.
const DefaultLimit = 100

// Cached lists up to limit proxied items the cache holds (image tags and
// package files) of format ("" every format), most recently accessed
// first among those found: the store is walked in its own order until
// limit items are found, so with more cached than limit the list is a
// part of them. limit is at most MaxItems; <= 0 is DefaultLimit.
func (i *Inventory) Cached(ctx context.Context, format string, limit int) ([]Cached, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxItems)
	formats := Formats
	if format != "" {
		if !slices.Contains(Formats, format) {
			return nil, fault.Newf(fault.Invalid, "no format %q: want docker, npm, pypi, maven or cargo", format)
		}
		formats = []string{format}
	}
	out := []Cached{}
	for _, f := range formats {
		if len(out) >= limit {
			break
		}
		err := i.listCached(ctx, f, "", func(c Cached) error {
			out = append(out, c)
			if len(out) >= limit {
				return errStop
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b Cached) int { return b.LastAccess.Compare(a.LastAccess) })
	return out, nil
}

// listCached calls fn with each cached item of format whose ref is under
// prefix ("" all of format's) and whose object the store holds.
func (i *Inventory) listCached(ctx context.Context, format, prefix string, fn func(Cached) error) error {
	if prefix == "" {
		prefix = fileRefs[format]
		if format == "docker" {
			prefix = dockerRefs
		}
	}
	return i.list(ctx, prefix, func(key string) error {
		var name, item string
		var ok bool
		if format == "docker" {
			name, item, ok = dockerTag(key)
		} else {
			name, _, item, ok = fileRef(format, key)
		}
		if !ok {
			return nil
		}
		c, ok := i.cachedFile(ctx, key)
		if !ok {
			return nil
		}
		c.Format, c.Name, c.Item = format, name, item
		if format == "docker" {
			t := Tag{Digest: c.digest}
			i.describe(ctx, &t, c.Size)
			c.Size = t.Size
		}
		return fn(c.Cached)
	})
}

// cachedRef is a Cached with the digest its ref names.
type cachedRef struct {
	Cached
	digest digest.Digest
}

// cachedFile reads the ref under key and the index entry of the object it
// names; not ok if either is gone.
func (i *Inventory) cachedFile(ctx context.Context, key string) (cachedRef, bool) {
	ref, err := i.d.Cache.Ref(ctx, key)
	if err != nil {
		return cachedRef{}, false
	}
	e, ok := i.blob(ref.Digest)
	if !ok {
		return cachedRef{}, false
	}
	return cachedRef{Cached: Cached{Key: key, Size: e.Size, LastAccess: e.LastAccess, Hosted: e.Hosted}, digest: ref.Digest}, true
}
