package maven

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
)

var _ tenant.Source = (*Registry)(nil)

// Holdings implements tenant.Source. The name is the coordinate of a
// hosted directory, "com.acme:lib" for com/acme/lib (DirName), which is
// what proxy/maven authorizes a deploy of its files and metadata on (a
// plugin group's directory reads as one too). A directory holds its state
// document (keyed by its store key: no other directory shares it) and
// every file deployed to any of its versions, keyed by the shared store's
// cache.BlobKey of its sha256, so the same bytes deployed under two
// coordinates give one key. A Failed file is not held: nothing serves it
// and GC collects it. A snapshot build retention removed is gone.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	for _, dir := range r.dirs.List() {
		name := DirName(dir)
		if !keep(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.dirHoldings(ctx, dir, name, fn); err != nil {
			return err
		}
	}
	return nil
}

// dirHoldings reports the document and files of directory dir as name.
func (r *Registry) dirHoldings(ctx context.Context, dir, name string, fn func(name, key string, size int64) error) error {
	key := docKey(dir)
	b, err := r.get(ctx, key, maxDocBytes)
	if errors.Is(err, cache.ErrNotFound) {
		return nil // hosted, its first deploy not recorded yet
	} else if err != nil {
		return fmt.Errorf("cannot read hosted state of %s: %w", dir, err)
	}
	d, err := r.decode(dir, b)
	if err != nil {
		return err
	}
	if err := fn(name, key, int64(len(b))); err != nil {
		return err
	}
	seen := map[digest.Digest]bool{}
	for _, v := range d.Versions {
		for _, f := range v.Files {
			if f.Failed != "" || seen[f.Digest] || f.Digest.Validate() != nil {
				continue
			}
			seen[f.Digest] = true
			if err := fn(name, cache.BlobKey(f.Digest), f.Size); err != nil {
				return err
			}
		}
	}
	return nil
}
