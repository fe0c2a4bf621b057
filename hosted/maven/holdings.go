package maven

import (
	"context"

	"nora/auth/tenant"
	"nora/hosted"
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
	return hosted.Kept(ctx, r.dirs.List(), DirName, keep, func(dir, name string) error {
		b, err := hosted.StateHolding(ctx, r.store, docKey(dir), maxDocBytes, name, fn)
		if err != nil || b == nil {
			return err
		}
		d, err := r.decode(dir, b)
		if err != nil {
			return err
		}
		report := hosted.BlobHoldings(name, fn)
		for _, v := range d.Versions {
			for _, f := range v.Files {
				if f.Failed != "" {
					continue
				}
				if err := report(f.Digest, f.Size); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
