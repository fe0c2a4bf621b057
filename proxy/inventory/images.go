package inventory

import (
	"context"
	"errors"
	"slices"
	"strings"

	"nora/hosted/oci"
	"nora/internal/fault"
)

// dockerRefs is where the proxied side keeps its tags:
// refs/docker/<upstream>/<repository>/_tags/<tag> (proxy/docker/keys.go).
const (
	dockerRefs = "refs/docker/"
	tagsElem   = "/_tags/"
)

// Images lists the hosted repositories, then the proxied ones, with their
// tags; repo != "" lists that repository only (hosted, else proxied as
// "<upstream>/<repository>"), fault.NotFound if it has no tag either way.
// At most MaxItems repositories and MaxItems tags in all (each tag costs
// a few store reads).
func (i *Inventory) Images(ctx context.Context, repo string) ([]Image, error) {
	var out []Image
	budget := MaxItems // tags left to list
	if i.d.OCI != nil {
		names := []string{repo}
		if repo == "" {
			var err error
			if names, _, err = i.d.OCI.Repositories("", MaxItems, nil); err != nil {
				return nil, err
			}
		}
		for _, name := range names {
			if repo != "" && !i.d.OCI.Exists(name) || budget <= 0 {
				break
			}
			img, err := i.hostedImage(ctx, name, budget)
			if err != nil {
				return nil, err
			}
			budget -= len(img.Tags)
			out = append(out, img)
		}
	}
	proxied, err := i.proxiedImages(ctx, repo, MaxItems-len(out), budget)
	if err != nil {
		return nil, err
	}
	out = append(out, proxied...)
	if repo != "" && !slices.ContainsFunc(out, func(img Image) bool { return len(img.Tags) > 0 }) {
		return nil, fault.Newf(fault.NotFound, "no image %s on this nora", repo)
	}
	return out, nil
}

// hostedImage lists the tags of hosted repository name.
func (i *Inventory) hostedImage(ctx context.Context, name string, n int) (Image, error) {
	img := Image{Repository: name, Hosted: true, Tags: []Tag{}}
	infos, _, err := i.d.OCI.TagInfos(name, "", n)
	if errors.Is(err, oci.ErrNameUnknown) {
		return img, nil // deleted since it was listed
	} else if err != nil {
		return img, err
	}
	for _, ti := range infos {
		t := Tag{Tag: ti.Tag, Digest: ti.Manifest.Digest, MediaType: ti.Manifest.MediaType, Created: ti.Created}
		if e, ok := i.blob(t.Digest); ok {
			t.LastPull = e.LastAccess
		}
		i.describe(ctx, &t, ti.Manifest.Size)
		img.Tags = append(img.Tags, t)
	}
	return img, nil
}

// proxiedImages lists up to n proxied repositories (only repo, if set)
// with up to budget tags in all, from their tag refs.
func (i *Inventory) proxiedImages(ctx context.Context, repo string, n, budget int) ([]Image, error) {
	prefix := dockerRefs
	if repo != "" {
		prefix += repo + tagsElem
	}
	var out []Image
	at := map[string]int{}
	err := i.list(ctx, prefix, func(key string) error {
		name, tag, ok := dockerTag(key)
		if !ok || repo != "" && name != repo {
			return nil
		}
		k, seen := at[name]
		if !seen {
			if len(out) >= n {
				return errStop
			}
			k, at[name] = len(out), len(out)
			out = append(out, Image{Repository: name, Tags: []Tag{}})
		}
		if budget <= 0 {
			return errStop
		}
		if t, ok := i.proxiedTag(ctx, key, tag); ok {
			out[k].Tags = append(out[k].Tags, t)
			budget--
		}
		return nil
	})
	for _, img := range out {
		slices.SortFunc(img.Tags, func(a, b Tag) int { return strings.Compare(a.Tag, b.Tag) })
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.Repository, b.Repository) })
	return out, err
}

// proxiedTag reads the tag ref under key; not ok if it is gone or names
// a manifest the store no longer holds.
func (i *Inventory) proxiedTag(ctx context.Context, key, tag string) (Tag, bool) {
	ref, err := i.d.Cache.Ref(ctx, key)
	if err != nil {
		return Tag{}, false
	}
	e, ok := i.blob(ref.Digest)
	if !ok {
		return Tag{}, false
	}
	t := Tag{Tag: tag, Digest: ref.Digest, MediaType: ref.MediaType, Created: ref.FetchedAt, LastPull: e.LastAccess}
	i.describe(ctx, &t, e.Size)
	return t, true
}

// dockerTag splits a proxied tag ref key into "<upstream>/<repository>"
// and the tag.
func dockerTag(key string) (name, tag string, ok bool) {
	rest, ok := strings.CutPrefix(key, dockerRefs)
	if !ok {
		return "", "", false
	}
	j := strings.LastIndex(rest, tagsElem)
	if j <= 0 {
		return "", "", false
	}
	name, tag = rest[:j], rest[j+len(tagsElem):]
	return name, tag, tag != "" && !strings.Contains(tag, "/")
}
