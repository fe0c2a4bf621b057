package hosted

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// Kept calls each, in order, with every hosted item whose name keep
// accepts (a tenant.Source's walk): an item is what the registry stores
// the state under, name what requests authorize on, nameOf(item) (nil:
// the item itself). Items keep refuses cost no I/O. It stops at the
// first error and when ctx ends.
func Kept(ctx context.Context, items []string, nameOf func(string) string, keep func(string) bool, each func(item, name string) error) error {
	for _, item := range items {
		name := item
		if nameOf != nil {
			name = nameOf(item)
		}
		if !keep(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := each(item, name); err != nil {
			return err
		}
	}
	return nil
}

// StateHolding reads the state object of one hosted name under key for
// a tenant.Source and reports it to fn keyed by its store key (no other
// name shares it), sized by its stored length. It returns the bytes, nil
// with no error when there is none yet (a name claimed before its first
// write).
func StateHolding(ctx context.Context, store cache.Store, key string, max int64, name string, fn func(name, key string, size int64) error) ([]byte, error) {
	b, err := Read(ctx, store, key, max)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", key, err)
	}
	return b, fn(name, key, int64(len(b)))
}

// BlobHoldings reports to fn, as held by name, content-addressed bytes
// under the shared store's cache.BlobKey of their digest, each digest
// once however often name refers to it; a digest that is not valid is
// skipped. Report it with a digest and its size.
func BlobHoldings(name string, fn func(name, key string, size int64) error) (report func(d digest.Digest, size int64) error) {
	seen := map[digest.Digest]bool{}
	return func(d digest.Digest, size int64) error {
		if seen[d] || d.Validate() != nil {
			return nil
		}
		seen[d] = true
		return fn(name, cache.BlobKey(d), size)
	}
}
