package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"nora/cache"
)

// StatBlob returns the size of blob d if it is linked in repository name
// and its bytes are in the store. A client that hears the blob exists will
// not upload it, so the blob is claimed (cache.Claim): a GC that is running
// will not sweep it from under the push. Errors: ErrNameUnknown,
// ErrBlobUnknown.
func (r *Registry) StatBlob(ctx context.Context, name string, d digest.Digest) (int64, error) {
	err := r.view(name, func(b *bolt.Bucket) error {
		if decodeSize(b.Bucket(blobsBucket).Get([]byte(d))) < 0 {
			return ErrBlobUnknown
		}
		return nil
	})
	if err != nil {
		return -1, err
	}
	info, err := r.blobs.Claim(ctx, cache.BlobKey(d))
	if errors.Is(err, cache.ErrNotFound) {
		return -1, fmt.Errorf("%w: %s is linked but its bytes are gone", ErrBlobUnknown, d)
	} else if err != nil {
		return -1, fmt.Errorf("cannot stat blob %s: %w", d, err)
	}
	return info.Size, nil
}

// link links blobs (digest -> size) into repository name, creating it. The
// link's time is now: GC keeps a link younger than its cutoff even when no
// manifest refers to it yet.
func (r *Registry) link(name string, blobs map[digest.Digest]int64) error {
	now := r.now()
	return r.db.Update(func(tx *bolt.Tx) error {
		b, err := createRepo(tx, name)
		if err != nil {
			return err
		}
		for d, size := range blobs {
			if err := b.Bucket(blobsBucket).Put([]byte(d), encodeLink(size, now)); err != nil {
				return fmt.Errorf("cannot link blob %s to %s: %w", d, name, err)
			}
		}
		return nil
	})
}

// Mount links blob d into repository name without an upload. With from set
// to a hosted repository, d must be linked there. Otherwise (from empty, or
// a proxied name) d must be in the shared store, hosted or cached: a sha256
// digest cannot be guessed, so knowing it is treated as having the content,
// and a CI job that builds on a base image pulled through nora mounts its
// layers instead of uploading them again. The caller checks that the client
// may pull from. It reports false, with no error, when there is nothing to
// mount: the client then uploads.
func (r *Registry) Mount(ctx context.Context, name string, d digest.Digest, from string) (bool, error) {
	var size int64
	if from != "" && r.Exists(from) {
		s, err := r.StatBlob(ctx, from, d)
		if errors.Is(err, ErrBlobUnknown) || errors.Is(err, ErrNameUnknown) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		size = s
	} else {
		// Claimed, not just found: the client skips the upload on our word.
		info, err := r.blobs.Claim(ctx, cache.BlobKey(d))
		if errors.Is(err, cache.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		size = info.Size
	}
	if err := r.link(name, map[digest.Digest]int64{d: size}); err != nil {
		return false, err
	}
	return true, nil
}

// DeleteBlob unlinks blob d from repository name; the bytes stay in the
// shared store until GC finds nothing that references them. Errors:
// ErrNameUnknown, ErrBlobUnknown.
func (r *Registry) DeleteBlob(name string, d digest.Digest) error {
	return r.update(name, func(b *bolt.Bucket) error {
		blobs := b.Bucket(blobsBucket)
		if blobs.Get([]byte(d)) == nil {
			return ErrBlobUnknown
		}
		return blobs.Delete([]byte(d))
	})
}
