package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"nora/cache"
)

// Manifest is a hosted manifest as GET and HEAD serve it.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
	Subject   digest.Digest // "" if none
}

// PutManifest stores a pushed manifest byte for byte under repository name
// (creating it) and points tags at it. want, if set, is the digest the
// client pushed it by: the bytes must hash to it (ErrDigestInvalid), and its
// algorithm is the one used; else the digest is the sha256 of the bytes.
// Every blob an image manifest references and every child of an index must
// be in the shared store (a blob not yet linked in the repository is linked
// then); otherwise ErrManifestBlobUnknown. Each descriptor's size must be
// the stored object's (ErrManifestInvalid): a client trusts it to bound what
// it reads. The subject need not exist. The manifest's put time, and its
// tags' creation time, is now.
func (r *Registry) PutManifest(ctx context.Context, name string, want digest.Digest, tags []string, body []byte, contentType string) (Manifest, error) {
	p, err := ParseManifest(body, contentType)
	if err != nil {
		return Manifest{}, err
	}
	d := digest.Canonical.FromBytes(body)
	if want != "" {
		if d = want.Algorithm().FromBytes(body); d != want {
			return Manifest{}, fmt.Errorf("%w: the manifest's %s digest is %s, not %s", ErrDigestInvalid, want.Algorithm(), d, want)
		}
	}
	if err := r.checkReferences(ctx, p); err != nil {
		return Manifest{}, err
	}
	// Hosted: never evicted, and spared by a GC that is running.
	if err := r.blobs.PutHostedBlob(ctx, d, body); err != nil {
		return Manifest{}, fmt.Errorf("cannot store manifest %s: %w", d, err)
	}
	rec := manifestRecord{MediaType: p.MediaType, Size: int64(len(body)), ArtifactType: p.ArtifactType,
		Refs: p.Refs(), Put: r.now()}
	if p.Subject != nil {
		rec.Subject = p.Subject.Digest
	}
	if err := r.record(ctx, name, d, p, rec, tags); err != nil {
		return Manifest{}, fmt.Errorf("cannot record manifest %s of %s: %w", d, name, err)
	}
	return Manifest{Digest: d, MediaType: p.MediaType, Size: rec.Size, Subject: rec.Subject}, nil
}

// record writes what a put manifest adds to repository name, each record
// after those it needs: the links of its blobs (checked here rather than
// before the claims: GC may have dropped a link since), the manifest, its
// referrer entry, then its tags, so a reader that finds a tag finds its
// manifest.
func (r *Registry) record(ctx context.Context, name string, d digest.Digest, p *Parsed, rec manifestRecord, tags []string) error {
	blobs := make(map[digest.Digest]int64, len(p.Blobs))
	for _, bd := range p.Blobs {
		blobs[bd.Digest] = bd.Size
	}
	if err := r.link(ctx, name, blobs, true); err != nil {
		return err
	}
	key, err := repoKey(name, manifestsDir, string(d))
	if err != nil {
		return err
	}
	if err := r.putRecord(ctx, key, rec); err != nil {
		return err
	}
	if p.Subject != nil {
		desc := v1.Descriptor{MediaType: p.MediaType, Digest: d, Size: rec.Size,
			ArtifactType: p.ArtifactType, Annotations: p.Annotations}
		if err := r.putRecord(ctx, referrerDir(name, rec.Subject)+string(d), desc); err != nil {
			return err
		}
	}
	for _, tag := range tags {
		key, err := repoKey(name, tagsDir, tag)
		if err != nil {
			return err
		}
		if err := r.putRecord(ctx, key, tagRecord{Digest: d, MediaType: p.MediaType, Size: rec.Size, Subject: rec.Subject, Created: rec.Put}); err != nil {
			return err
		}
	}
	return nil
}

// checkReferences claims every blob and child manifest p references
// (cache.Claim), so a GC that runs while the manifest is put will not sweep
// them, and checks their sizes. Whatever is missing from the store is
// ErrManifestBlobUnknown, linked in the repository or not: a link without
// bytes cannot be pulled. A descriptor whose size is not the stored
// object's is ErrManifestInvalid.
func (r *Registry) checkReferences(ctx context.Context, p *Parsed) error {
	check := func(what string, d v1.Descriptor) error {
		info, err := r.blobs.Claim(ctx, cache.BlobKey(d.Digest))
		if errors.Is(err, cache.ErrNotFound) {
			return fmt.Errorf("%w: %s %s", ErrManifestBlobUnknown, what, d.Digest)
		} else if err != nil {
			return fmt.Errorf("cannot check %s %s: %w", what, d.Digest, err)
		}
		if info.Size != d.Size {
			return fmt.Errorf("%w: the descriptor of %s %s says %d bytes, it has %d", ErrManifestInvalid, what, d.Digest, d.Size, info.Size)
		}
		return nil
	}
	for _, d := range p.Blobs {
		if err := check("blob", d); err != nil {
			return err
		}
	}
	for _, d := range p.Manifests {
		if err := check("manifest", d); err != nil {
			return err
		}
	}
	return nil
}

// Manifest resolves a manifest of repository name by digest (d != "") or by
// tag: one store read either way (the tag record carries what GET needs;
// a tag of an older nora sends it on to the manifest's record). PutManifest
// writes a manifest's record before its tags and DeleteManifest removes
// the tags first, so a tag found names a manifest that is there. Errors:
// ErrNameUnknown, ErrManifestUnknown.
func (r *Registry) Manifest(name string, d digest.Digest, tag string) (Manifest, error) {
	if err := r.inRepo(name); err != nil {
		return Manifest{}, err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	if d == "" {
		t, err := r.tag(ctx, name, tag)
		if err != nil {
			return Manifest{}, err
		}
		if t.Size > 0 {
			return Manifest{Digest: t.Digest, MediaType: t.MediaType, Size: t.Size, Subject: t.Subject}, nil
		}
		d = t.Digest
	}
	rec, err := r.manifest(ctx, name, d)
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{Digest: d, MediaType: rec.MediaType, Size: rec.Size, Subject: rec.Subject}, nil
}

// tag reads a tag record; ErrManifestUnknown if there is none.
func (r *Registry) tag(ctx context.Context, name, tag string) (tagRecord, error) {
	var t tagRecord
	key, err := repoKey(name, tagsDir, tag)
	if err != nil {
		return t, fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
	}
	if err := r.getRecord(ctx, key, &t); errors.Is(err, cache.ErrNotFound) {
		return t, fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
	} else if err != nil {
		return t, fmt.Errorf("cannot read tag %s of %s: %w", tag, name, err)
	}
	return t, nil
}

// manifest reads a manifest record; ErrManifestUnknown if there is none.
func (r *Registry) manifest(ctx context.Context, name string, d digest.Digest) (manifestRecord, error) {
	var m manifestRecord
	key, err := repoKey(name, manifestsDir, string(d))
	if err != nil {
		return m, fmt.Errorf("%w: %s", ErrManifestUnknown, d)
	}
	if err := r.getRecord(ctx, key, &m); errors.Is(err, cache.ErrNotFound) {
		return m, fmt.Errorf("%w: %s", ErrManifestUnknown, d)
	} else if err != nil {
		return m, fmt.Errorf("cannot read manifest %s of %s: %w", d, name, err)
	}
	return m, nil
}

// DeleteTag removes one tag; the manifest stays. Errors: ErrNameUnknown,
// ErrManifestUnknown.
func (r *Registry) DeleteTag(name, tag string) error {
	if err := r.inRepo(name); err != nil {
		return err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	key, err := repoKey(name, tagsDir, tag)
	if err != nil {
		return fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
	}
	if err := r.store.Delete(ctx, key); errors.Is(err, cache.ErrNotFound) {
		return fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
	} else if err != nil {
		return fmt.Errorf("cannot delete tag %s of %s: %w", tag, name, err)
	}
	return nil
}

// DeleteManifest removes manifest d from repository name, every tag that
// points at it and its entry in its subject's referrers; the tags go
// first, so no tag is left pointing at nothing. Errors: ErrNameUnknown,
// ErrManifestUnknown.
func (r *Registry) DeleteManifest(name string, d digest.Digest) error {
	if err := r.inRepo(name); err != nil {
		return err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	rec, err := r.manifest(ctx, name, d)
	if err != nil {
		return err
	}
	err = forEachRecord(ctx, r, name, tagsDir, func(tag string, t *tagRecord) error {
		if t.Digest != d {
			return nil
		}
		return r.deleteRecord(ctx, repoDir(name, tagsDir)+tag)
	})
	if err != nil {
		return fmt.Errorf("cannot delete the tags of %s: %w", d, err)
	}
	return r.dropManifest(ctx, name, d, rec)
}

// dropManifest deletes the record of manifest d and its referrer entry.
func (r *Registry) dropManifest(ctx context.Context, name string, d digest.Digest, rec manifestRecord) error {
	if rec.Subject != "" {
		if err := r.deleteRecord(ctx, referrerDir(name, rec.Subject)+string(d)); err != nil {
			return fmt.Errorf("cannot delete referrer %s: %w", d, err)
		}
	}
	if err := r.deleteRecord(ctx, repoDir(name, manifestsDir)+string(d)); err != nil {
		return fmt.Errorf("cannot delete manifest %s: %w", d, err)
	}
	return nil
}
