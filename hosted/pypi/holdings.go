package pypi

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
	"nora/hosted"
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
	return hosted.Kept(ctx, r.Projects(), nil, keep, func(project, _ string) error {
		b, err := hosted.StateHolding(ctx, r.store, projectKey(project), maxDocBytes, project, fn)
		if err != nil || b == nil {
			return err
		}
		p, err := r.remember(project, b)
		if err != nil {
			return err
		}
		return r.fileHoldings(ctx, p, hosted.BlobHoldings(project, fn))
	})
}

// fileHoldings reports the files of p and their core metadata.
func (r *Registry) fileHoldings(ctx context.Context, p *Project, report func(digest.Digest, int64) error) error {
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
