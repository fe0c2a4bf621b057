package cargo

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

// Holdings implements tenant.Source. The name is the crate's name as it
// was first published, which is what proxy/cargo authorizes a publish on
// (index reads and downloads authorize on the spelling the client asks
// for, which cargo lowercases in index paths). A crate holds its index
// file (keyed by its store key: no other crate shares it) and the .crate
// of every version, yanked ones included (they stay downloadable), keyed
// by the shared store's cache.BlobKey of its cksum, the key the same bytes
// cached from an upstream have. An index line carries no size, so each
// .crate costs one Stat of the store.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	return hosted.Kept(ctx, r.names.List(), nil, keep, func(name, _ string) error {
		b, err := hosted.StateHolding(ctx, r.store, indexKey(name), maxIndexBytes, name, fn)
		if err != nil || b == nil {
			return err
		}
		entries, err := parseIndex(b)
		if err != nil {
			return fmt.Errorf("cannot read the index of hosted crate %s: %w", name, err)
		}
		report := hosted.BlobHoldings(name, fn)
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.SHA256, e.Cksum)
			info, err := r.store.Stat(ctx, cache.BlobKey(d))
			if errors.Is(err, cache.ErrNotFound) {
				continue // damaged state (Crate answers 500): nothing is held
			} else if err != nil {
				return fmt.Errorf("cannot stat the .crate of hosted %s %s: %w", name, e.Vers, err)
			}
			if err := report(d, info.Size); err != nil {
				return err
			}
		}
		return nil
	})
}
