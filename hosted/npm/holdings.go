package npm

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/cache"
)

var _ tenant.Source = (*Registry)(nil)

// Holdings implements tenant.Source. The name is the package name, scope
// included ("@acme/lib"), as proxy/npm authorizes it. A package holds its
// state object (keyed by its store key: no other package shares it) and
// the tarball of every live version, keyed by the shared store's
// cache.BlobKey of its sha256, so one tarball published under two names
// gives one key. An unpublished version's tarball is no longer held.
func (r *Registry) Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error {
	for _, name := range r.Names() {
		if !keep(name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.packageHoldings(ctx, name, fn); err != nil {
			return err
		}
	}
	return nil
}

// packageHoldings reports the state object and tarballs of package name.
func (r *Registry) packageHoldings(ctx context.Context, name string, fn func(name, key string, size int64) error) error {
	key, err := stateKey(name)
	if err != nil {
		return err
	}
	b, err := r.read(ctx, key)
	if errors.Is(err, cache.ErrNotFound) {
		return nil // hosted, nothing published yet
	} else if err != nil {
		return internal(err, "cannot read the state of %s", name)
	}
	p, err := decode(name, b)
	if err != nil {
		return err
	}
	if err := fn(name, key, int64(len(b))); err != nil {
		return err
	}
	seen := map[digest.Digest]bool{}
	for _, v := range p.Versions {
		if seen[v.Digest] || v.Digest.Validate() != nil {
			continue
		}
		seen[v.Digest] = true
		if err := fn(name, cache.BlobKey(v.Digest), v.Size); err != nil {
			return err
		}
	}
	return nil
}
