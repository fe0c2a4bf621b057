package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// StatBlob returns the size of blob d if it is linked in repository name
// and its bytes are in the store. A client that hears the blob exists will
// not upload it, so the blob is claimed (cache.Claim): a GC that is running
// will not sweep it from under the push. Errors: ErrNameUnknown,
// ErrBlobUnknown.
func (r *Registry) StatBlob(ctx context.Context, name string, d digest.Digest) (int64, error) {
	if err := r.inRepo(name); err != nil {
		return -1, err
	}
	v, err := r.readLink(ctx, name, string(d))
	if errors.Is(err, cache.ErrNotFound) || err == nil && decodeSize(v) < 0 {
		return -1, ErrBlobUnknown
	} else if err != nil {
		return -1, fmt.Errorf("cannot read the link of %s: %w", d, err)
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
// manifest refers to it yet. With onlyNew, a blob linked already keeps its
// link (and its time).
func (r *Registry) link(ctx context.Context, name string, blobs map[digest.Digest]int64, onlyNew bool) error {
	if err := r.createRepo(ctx, name); err != nil {
		return err
	}
	now := r.now()
	for d, size := range blobs {
		key, err := repoKey(name, blobsDir, string(d))
		if err != nil {
			return err
		}
		if onlyNew {
			_, err = r.putNew(ctx, key, encodeLink(size, now))
		} else {
			err = r.store.Put(ctx, key, bytes.NewReader(encodeLink(size, now)))
		}
		if err != nil {
			return fmt.Errorf("cannot link blob %s to %s: %w", d, name, err)
		}
	}
	return nil
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
	if err := r.link(ctx, name, map[digest.Digest]int64{d: size}, false); err != nil {
		return false, err
	}
	return true, nil
}

// DeleteBlob unlinks blob d from repository name; the bytes stay in the
// shared store until GC finds nothing that references them. Errors:
// ErrNameUnknown, ErrBlobUnknown.
func (r *Registry) DeleteBlob(name string, d digest.Digest) error {
	if err := r.inRepo(name); err != nil {
		return err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	key, err := repoKey(name, blobsDir, string(d))
	if err != nil {
		return err
	}
	if err := r.store.Delete(ctx, key); errors.Is(err, cache.ErrNotFound) {
		return ErrBlobUnknown
	} else if err != nil {
		return fmt.Errorf("cannot unlink blob %s from %s: %w", d, name, err)
	}
	return nil
}
