package inventory

import (
	"context"
	"slices"
	"strings"

	"nora/internal/fault"
)

// Packages lists the packages of format ("npm", "pypi", "maven" as
// "group:artifact", "cargo"): the hosted ones, then the proxied ones the
// cache holds files of; name != "" lists that package only, fault.NotFound
// if it is neither. At most MaxItems packages, of the cached ones from
// the first maxFiles files found.
func (i *Inventory) Packages(ctx context.Context, format, name string) ([]Package, error) {
	if _, ok := fileRefs[format]; !ok {
		return nil, fault.Newf(fault.Invalid, "no package format %q: want npm, pypi, maven or cargo", format)
	}
	out, err := i.hosted(ctx, format, name)
	if err != nil {
		return nil, err
	}
	proxied, err := i.proxiedPackages(ctx, format, name, MaxItems-len(out))
	if err != nil {
		return nil, err
	}
	out = append(out, proxied...)
	if name != "" && len(out) == 0 {
		return nil, fault.Newf(fault.NotFound, "no %s package %s on this nora", format, name)
	}
	return out, nil
}

// hosted lists the hosted packages of format (only name, if set).
func (i *Inventory) hosted(ctx context.Context, format, name string) ([]Package, error) {
	switch format {
	case "npm":
		return i.hostedNpm(ctx, name)
	case "pypi":
		return i.hostedPyPI(ctx, name)
	case "maven":
		return i.hostedMaven(ctx, name)
	case "cargo":
		return i.hostedCargo(ctx, name)
	}
	return nil, nil
}

// names is [name] if set and hosted, else all up to MaxItems.
func names(all func() []string, hosted func(string) bool, name string) []string {
	if name != "" {
		if hosted(name) {
			return []string{name}
		}
		return nil
	}
	l := all()
	return l[:min(len(l), MaxItems)]
}

// maxFiles bounds the cached files one package listing reads (a ref and
// an index entry each).
const maxFiles = 10 * MaxItems

// proxiedPackages groups the cached file refs of format (only those of
// name, if set) into up to n packages.
func (i *Inventory) proxiedPackages(ctx context.Context, format, name string, n int) ([]Package, error) {
	prefix := fileRefs[format]
	if name != "" {
		prefix = namePrefix(format, name)
	}
	var out []Package
	at := map[string]int{}
	files := 0 // file refs read
	err := i.list(ctx, prefix, func(key string) error {
		pkg, version, _, ok := fileRef(format, key)
		if !ok {
			return nil
		}
		if files++; files > maxFiles {
			return errStop
		}
		k, seen := at[pkg]
		if !seen {
			if len(out) >= n {
				return errStop
			}
			k, at[pkg] = len(out), len(out)
			out = append(out, Package{Format: format, Name: pkg, Versions: []Version{}})
		}
		c, ok := i.cachedFile(ctx, key)
		if !ok {
			return nil
		}
		addFile(&out[k], Version{Version: version, Size: c.Size, Files: 1, LastPull: c.LastAccess})
		return nil
	})
	for _, p := range out {
		slices.SortFunc(p.Versions, func(a, b Version) int { return strings.Compare(a.Version, b.Version) })
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	// A package whose every file went since it was listed is not there.
	return slices.DeleteFunc(out, func(p Package) bool { return len(p.Versions) == 0 }), err
}

// addFile adds one file's version to p: to the version of that name if
// p has it (its size and file count summed, the latest pull kept).
func addFile(p *Package, v Version) {
	for j := range p.Versions {
		if have := &p.Versions[j]; have.Version == v.Version {
			have.Size += v.Size
			have.Files += v.Files
			have.LastPull = later(have.LastPull, v.LastPull)
			if have.Published.IsZero() || !v.Published.IsZero() && v.Published.Before(have.Published) {
				have.Published = v.Published
			}
			return
		}
	}
	if len(p.Versions) < MaxItems {
		p.Versions = append(p.Versions, v)
	}
}
