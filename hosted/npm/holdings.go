package npm

import (
	"context"

	"nora/auth/tenant"
	"nora/hosted"
)

var _ tenant.Source = (*Registry)(nil)

// Holdings implements tenant.Source. The name is the package name, scope
// included ("@acme/lib"), as proxy/npm authorizes it. A package holds its
// state object (keyed by its store key: no other package shares it) and
// the tarball of every live version, keyed by the shared store's
// cache.BlobKey of its sha256, so one tarball published under two names
// gives one key. An unpublished version's tarball is no longer held.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	return hosted.Kept(ctx, r.Names(), nil, keep, func(name, _ string) error {
		key, err := stateKey(name)
		if err != nil {
			return err
		}
		b, err := hosted.StateHolding(ctx, r.store, key, maxState, name, fn)
		if err != nil || b == nil {
			return err
		}
		p, err := decode(name, b)
		if err != nil {
			return err
		}
		report := hosted.BlobHoldings(name, fn)
		for _, v := range p.Versions {
			if err := report(v.Digest, v.Size); err != nil {
				return err
			}
		}
		return nil
	})
}
