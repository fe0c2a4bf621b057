package inventory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	hostedmaven "nora/hosted/maven"
	hostedpypi "nora/hosted/pypi"
	"nora/internal/fault"
)

// pulled is the last access of the object with digest d (zero if none).
func (i *Inventory) pulled(d digest.Digest) time.Time {
	e, _ := i.blob(d)
	return e.LastAccess
}

func (i *Inventory) hostedNpm(ctx context.Context, name string) ([]Package, error) {
	r := i.d.Npm
	if r == nil {
		return nil, nil
	}
	var out []Package
	for _, n := range names(r.Names, r.Hosted, name) {
		p, err := r.Get(ctx, n)
		if errors.Is(err, fault.NotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		pkg := Package{Format: "npm", Name: n, Hosted: true, Versions: []Version{}}
		for v, ver := range p.Versions {
			addFile(&pkg, Version{Version: v, Size: ver.Size, Files: 1, Published: ver.Published, LastPull: i.pulled(ver.Digest)})
		}
		slices.SortFunc(pkg.Versions, byPublished)
		out = append(out, pkg)
	}
	return out, nil
}

func (i *Inventory) hostedPyPI(ctx context.Context, name string) ([]Package, error) {
	r := i.d.PyPI
	if r == nil {
		return nil, nil
	}
	if name != "" {
		name = hostedpypi.NormalizeName(name)
	}
	var out []Package
	for _, n := range names(r.Projects, r.Hosted, name) {
		p, err := r.Project(ctx, n)
		if errors.Is(err, fault.NotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		pkg := Package{Format: "pypi", Name: n, Hosted: true, Versions: []Version{}}
		for _, f := range p.Files {
			addFile(&pkg, Version{Version: f.Version, Size: f.Size, Files: 1, Published: f.UploadTime, LastPull: i.pulled(f.Digest())})
		}
		slices.SortFunc(pkg.Versions, byPublished)
		out = append(out, pkg)
	}
	return out, nil
}

func (i *Inventory) hostedMaven(ctx context.Context, name string) ([]Package, error) {
	r := i.d.Maven
	if r == nil {
		return nil, nil
	}
	dir := ""
	if g, a, ok := strings.Cut(name, ":"); ok {
		dir = strings.ReplaceAll(g, ".", "/") + "/" + a
	} else if name != "" {
		return nil, nil // not a group:artifact
	}
	var out []Package
	for _, d := range names(r.Dirs, r.Hosted, dir) {
		vs, err := r.Versions(ctx, d)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			continue // a group's directory (plugin metadata), no artifact
		}
		pkg := Package{Format: "maven", Name: hostedmaven.DirName(d), Hosted: true, Versions: []Version{}}
		for _, v := range vs {
			ver := Version{Version: v.Version}
			for _, f := range v.Files {
				ver.Files++
				ver.Size += f.Size
				ver.LastPull = later(ver.LastPull, i.pulled(f.Digest))
				if ver.Published.IsZero() || f.Uploaded.Before(ver.Published) {
					ver.Published = f.Uploaded
				}
			}
			addFile(&pkg, ver)
		}
		out = append(out, pkg)
	}
	return out, nil
}

func (i *Inventory) hostedCargo(ctx context.Context, name string) ([]Package, error) {
	r := i.d.Cargo
	if r == nil {
		return nil, nil
	}
	var out []Package
	for _, n := range names(r.Crates, r.Hosted, name) {
		entries, err := r.Versions(ctx, n)
		if errors.Is(err, fault.NotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		pkg := Package{Format: "cargo", Name: n, Hosted: true, Versions: []Version{}}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.SHA256, e.Cksum)
			blob, _ := i.blob(d)
			pub, _ := time.Parse(time.RFC3339, e.Pubtime)
			addFile(&pkg, Version{Version: e.Vers, Size: blob.Size, Files: 1, Published: pub, LastPull: blob.LastAccess})
		}
		out = append(out, pkg)
	}
	return out, nil
}

func byPublished(a, b Version) int { return a.Published.Compare(b.Published) }
