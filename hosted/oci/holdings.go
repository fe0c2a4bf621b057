package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
	"nora/hosted"
)

var _ tenant.Source = (*Registry)(nil)

// Holdings implements tenant.Source. The name is the repository name, as
// the docker handler authorizes it. A repository holds every blob linked
// in it and every manifest recorded in it, each keyed by the shared
// store's cache.BlobKey of its digest, so a layer two repositories link
// gives one key; a digest both linked and recorded is reported once per
// repository. A link a delete or GC removed is no longer held, though
// the bytes stay in the store until GC finds nothing refers to them.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	return hosted.Kept(ctx, r.hostedNames(), nil, keep, func(name, _ string) error {
		if err := r.repoHoldings(ctx, name, fn); err != nil {
			return fmt.Errorf("cannot list the holdings of %s: %w", name, err)
		}
		return nil
	})
}

// repoHoldings reports the manifests, then the blob links, of repository
// name.
func (r *Registry) repoHoldings(ctx context.Context, name string, fn func(name, key string, size int64) error) error {
	report := hosted.BlobHoldings(name, fn)
	err := forEachRecord(ctx, r, name, manifestsDir, func(e string, m *manifestRecord) error {
		return report(digest.Digest(e), m.Size)
	})
	if err != nil {
		return err
	}
	links, err := r.listDir(ctx, repoDir(name, blobsDir))
	if err != nil {
		return err
	}
	for _, l := range links {
		// The link carries the blob's size: no stat of the bytes.
		v, err := r.readLink(ctx, name, l)
		if errors.Is(err, cache.ErrNotFound) {
			continue // unlinked while listing
		} else if err != nil {
			return err
		}
		if size := decodeSize(v); size >= 0 {
			if err := report(digest.Digest(l), size); err != nil {
				return err
			}
		}
	}
	return nil
}
