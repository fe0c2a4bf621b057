package pypi

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
)

var _ tenant.Source = (*Registry)(nil)

// Holdings implements tenant.Source. The name is the normalized project
// name ("my-lib"), as proxy/pypi authorizes it. A project holds its
// document (keyed by its store key: no other project shares it) and every
// file of every release, yanked ones included (they stay downloadable),
// with each wheel's core metadata; files are keyed by the shared store's
// cache.BlobKey of their sha256, so the same bytes uploaded to two
// projects give one key.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	for _, name := range r.Projects() {
		if !keep(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.projectHoldings(ctx, name, fn); err != nil {
			return err
		}
	}
	return nil
}

// projectHoldings reports the document and files of project.
func (r *Registry) projectHoldings(ctx context.Context, project string, fn func(name, key string, size int64) error) error {
	key := projectKey(project)
	b, err := r.read(ctx, key)
	if errors.Is(err, cache.ErrNotFound) {
		return nil // hosted, its first upload not recorded yet
	} else if err != nil {
		return internal(err, "cannot read hosted project %s", project)
	}
	p, err := r.remember(project, b)
	if err != nil {
		return err
	}
	if err := fn(project, key, int64(len(b))); err != nil {
		return err
	}
	seen := map[digest.Digest]bool{}
	report := func(d digest.Digest, size int64) error {
		if seen[d] || d.Validate() != nil {
			return nil
		}
		seen[d] = true
		return fn(project, cache.BlobKey(d), size)
	}
	for _, f := range p.Files {
		if err := report(f.Digest(), f.Size); err != nil {
			return err
		}
		md := f.MetadataDigest()
		if md == "" {
			continue
		}
		size, err := r.metadataSize(ctx, f, md)
		if err != nil {
			return err
		}
		if size < 0 {
			continue
		}
		if err := report(md, size); err != nil {
			return err
		}
	}
	return nil
}

// metadataSize is the length of f's core metadata md: recorded, or for a
// file uploaded before it was, the stored blob's; -1 if it is gone.
func (r *Registry) metadataSize(ctx context.Context, f File, md digest.Digest) (int64, error) {
	if f.MetadataSize > 0 {
		return f.MetadataSize, nil
	}
	info, err := r.store.Stat(ctx, cache.BlobKey(md))
	if errors.Is(err, cache.ErrNotFound) {
		return -1, nil
	} else if err != nil {
		return -1, internal(err, "cannot stat the metadata of %s", f.Filename)
	}
	return info.Size, nil
}
