package oci

import (
	"context"
	"errors"
	"fmt"

	"nora/cache"
	"nora/hosted/retention"
)

// Items implements retention.Source: every tag of every hosted repository.
// A manifest pushed by digest only is no item: retention removes tags,
// and GC (with delete_untagged) the manifests no tag reaches.
func (r *Registry) Items(ctx context.Context) ([]retention.Item, error) {
	var items []retention.Item
	for _, name := range r.hostedNames() {
		err := forEachRecord(ctx, r, name, tagsDir, func(tag string, t *tagRecord) error {
			items = append(items, retention.Item{Format: itemFormat, Repository: name, Tag: tag, Created: t.Created, What: "tag"})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot list the tags of %s: %w", name, err)
		}
	}
	return items, nil
}

// RemoveItem implements retention.Source: it deletes the tag, keeping its
// manifest, unless the tag was put again since it was listed
// (retention.ErrGone). The tag is read again just before the delete, so
// only a put in the instant between the two is lost.
func (r *Registry) RemoveItem(ctx context.Context, it retention.Item) error {
	if it.Format != itemFormat {
		return fmt.Errorf("%s is not a hosted OCI tag", it.Key())
	}
	if !r.Exists(it.Repository) {
		return retention.ErrGone
	}
	t, err := r.tag(ctx, it.Repository, it.Tag)
	if errors.Is(err, ErrManifestUnknown) || err == nil && !t.Created.Equal(it.Created) {
		return retention.ErrGone
	} else if err != nil {
		return err
	}
	key, err := repoKey(it.Repository, tagsDir, it.Tag)
	if err != nil {
		return err
	}
	if err := r.store.Delete(ctx, key); errors.Is(err, cache.ErrNotFound) {
		return retention.ErrGone
	} else if err != nil {
		return err
	}
	return nil
}

var _ retention.Source = (*Registry)(nil)
