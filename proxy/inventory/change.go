package inventory

import (
	"context"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/fault"
)

// ImageRef is "repo:tag" or "repo@digest" taken apart.
type ImageRef struct {
	Repository string
	Tag        string
	Digest     digest.Digest
}

func (r ImageRef) String() string {
	if r.Digest != "" {
		return r.Repository + "@" + string(r.Digest)
	}
	return r.Repository + ":" + r.Tag
}

// ParseImageRef reads "repo:tag" or "repo@digest"; the tag or digest is
// required (a missing one is not taken to be "latest").
func ParseImageRef(s string) (ImageRef, error) {
	if repo, d, ok := strings.Cut(s, "@"); ok {
		dg, err := digest.Parse(d)
		if err != nil || repo == "" {
			return ImageRef{}, fault.Newf(fault.Invalid, "%q: want repository@sha256:...", s)
		}
		return ImageRef{Repository: repo, Digest: dg}, nil
	}
	repo, tag := splitTag(s)
	if repo == "" || tag == "" {
		return ImageRef{}, fault.Newf(fault.Invalid, "%q: want repository:tag or repository@digest", s)
	}
	return ImageRef{Repository: repo, Tag: tag}, nil
}

// hostedOnly refuses a ref whose repository is not hosted: proxied
// images belong to their upstream.
func (i *Inventory) hostedOnly(ctx context.Context, r ImageRef) error {
	if i.d.OCI != nil && i.d.OCI.Exists(r.Repository) {
		return nil
	}
	if i.lister != nil {
		var cached bool
		_ = i.list(ctx, namePrefix("docker", r.Repository), func(string) error {
			cached = true
			return errStop
		})
		if cached {
			return fault.Newf(fault.Conflict, "image %s is proxied, not hosted here: only hosted images are tagged or deleted (nora cache evict drops a cached one)", r.Repository)
		}
	}
	return fault.Newf(fault.NotFound, "no image %s on this nora", r.Repository)
}

// TagImage puts tag dst ("repo:tag") on the hosted manifest src names, in
// dst's repository (hosted, created if new). It returns that manifest.
func (i *Inventory) TagImage(ctx context.Context, src, dst string) (Tag, error) {
	from, err := ParseImageRef(src)
	if err != nil {
		return Tag{}, err
	}
	to, err := ParseImageRef(dst)
	if err != nil || to.Tag == "" {
		return Tag{}, fault.Newf(fault.Invalid, "target %q: want repository:tag", dst)
	}
	if err := i.hostedOnly(ctx, from); err != nil {
		return Tag{}, err
	}
	m, err := i.d.OCI.Manifest(from.Repository, from.Digest, from.Tag)
	if err != nil {
		return Tag{}, fault.Wrap(fault.KindOf(err), err, "image "+from.String()+": "+fault.Message(err))
	}
	body, err := i.manifestBytes(ctx, m.Digest)
	if err != nil {
		return Tag{}, err
	}
	put, err := i.d.OCI.PutManifest(ctx, to.Repository, m.Digest, []string{to.Tag}, body, m.MediaType)
	if err != nil {
		return Tag{}, err
	}
	return Tag{Tag: to.Tag, Digest: put.Digest, MediaType: put.MediaType, Size: put.Size}, nil
}

// manifestBytes reads the hosted manifest with digest d.
func (i *Inventory) manifestBytes(ctx context.Context, d digest.Digest) ([]byte, error) {
	body, _, err := i.d.Store.Get(ctx, cache.BlobKey(d), 0)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "cannot read manifest "+string(d))
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxManifest+1))
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "cannot read manifest "+string(d))
	}
	if len(b) > maxManifest {
		return nil, fault.Newf(fault.TooLarge, "manifest %s is larger than %d bytes", d, maxManifest)
	}
	return b, nil
}

// DeleteImage removes a hosted tag ("repo:tag": the manifest stays) or
// manifest ("repo@digest": with every tag on it). It returns what it
// removed, with the manifest's digest.
func (i *Inventory) DeleteImage(ctx context.Context, ref string) (ImageRef, error) {
	r, err := ParseImageRef(ref)
	if err != nil {
		return r, err
	}
	if err := i.hostedOnly(ctx, r); err != nil {
		return r, err
	}
	if r.Digest != "" {
		return r, i.d.OCI.DeleteManifest(r.Repository, r.Digest)
	}
	m, err := i.d.OCI.Manifest(r.Repository, "", r.Tag)
	if err != nil {
		return r, err
	}
	r.Digest = m.Digest
	return r, i.d.OCI.DeleteTag(r.Repository, r.Tag)
}
