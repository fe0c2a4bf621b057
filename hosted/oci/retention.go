package oci

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"nora/hosted/retention"
)

// Items implements retention.Source: every tag of every hosted repository.
// A manifest pushed by digest only is no item: retention removes tags,
// and GC (with delete_untagged) the manifests no tag reaches.
func (r *Registry) Items(ctx context.Context) ([]retention.Item, error) {
	var items []retention.Item
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(reposBucket).ForEach(func(name, _ []byte) error {
			b := tx.Bucket(reposBucket).Bucket(name)
			if b == nil {
				return nil
			}
			return b.Bucket(tagsBucket).ForEach(func(k, v []byte) error {
				var t tagRecord
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("cannot decode tag %s of %s: %w", k, name, err)
				}
				items = append(items, retention.Item{Format: itemFormat, Repository: string(name), Tag: string(k), Created: t.Created, What: "tag"})
				return nil
			})
		})
	})
	return items, err
}

// RemoveItem implements retention.Source: it deletes the tag, keeping its
// manifest, unless the tag was put again since it was listed
// (retention.ErrGone).
func (r *Registry) RemoveItem(ctx context.Context, it retention.Item) error {
	if it.Format != itemFormat {
		return fmt.Errorf("%s is not a hosted OCI tag", it.Key())
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		b := repo(tx, it.Repository)
		if b == nil {
			return retention.ErrGone
		}
		tags := b.Bucket(tagsBucket)
		var t tagRecord
		v := tags.Get([]byte(it.Tag))
		if v == nil || json.Unmarshal(v, &t) != nil || !t.Created.Equal(it.Created) {
			return retention.ErrGone
		}
		return tags.Delete([]byte(it.Tag))
	})
}

var _ retention.Source = (*Registry)(nil)
