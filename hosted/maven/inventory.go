package maven

import (
	"context"
	"slices"
	"time"
)

// Listed is one hosted version of an artifact as an inventory lists it.
type Listed struct {
	Version string
	Files   []File
	Updated time.Time
}

// Dirs lists the hosted artifact directories ("com/acme/lib"), sorted.
func (r *Registry) Dirs() []string { return r.dirs.List() }

// Versions lists the versions of hosted artifact directory dir, oldest
// first by CompareVersions, each with its files that are served (not
// failed). None, with no error, if dir is not hosted.
func (r *Registry) Versions(ctx context.Context, dir string) ([]Listed, error) {
	if !r.Hosted(dir) {
		return nil, nil
	}
	d, err := r.doc(ctx, dir)
	if err != nil || d == nil {
		return nil, err
	}
	out := make([]Listed, 0, len(d.Versions))
	for v, ver := range d.Versions {
		l := Listed{Version: v, Updated: ver.Updated}
		for _, f := range ver.Files {
			if f.Failed == "" {
				l.Files = append(l.Files, *f)
			}
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Listed) int { return CompareVersions(a.Version, b.Version) })
	return out, nil
}
