package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

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
	now := r.now()
	rec := manifestRecord{MediaType: p.MediaType, Size: int64(len(body)), ArtifactType: p.ArtifactType,
		Refs: p.Refs(), Put: now}
	var referrer []byte
	if p.Subject != nil {
		rec.Subject = p.Subject.Digest
		referrer, err = json.Marshal(v1.Descriptor{MediaType: p.MediaType, Digest: d, Size: rec.Size,
			ArtifactType: p.ArtifactType, Annotations: p.Annotations})
		if err != nil {
			return Manifest{}, err
		}
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return Manifest{}, err
	}
	tagJSON, _ := json.Marshal(tagRecord{Digest: d, MediaType: p.MediaType, Created: now})
	err = r.db.Update(func(tx *bolt.Tx) error {
		b, err := createRepo(tx, name)
		if err != nil {
			return err
		}
		// Link what is not linked, checked here rather than before the
		// claims: GC may have dropped a link since.
		links := b.Bucket(blobsBucket)
		for _, bd := range p.Blobs {
			if links.Get([]byte(bd.Digest)) == nil {
				if err := links.Put([]byte(bd.Digest), encodeLink(bd.Size, now)); err != nil {
					return err
				}
			}
		}
		if err := b.Bucket(manifestsBucket).Put([]byte(d), recJSON); err != nil {
			return err
		}
		for _, tag := range tags {
			if err := b.Bucket(tagsBucket).Put([]byte(tag), tagJSON); err != nil {
				return err
			}
		}
		if referrer != nil {
			return b.Bucket(referrersBucket).Put(referrerKey(p.Subject.Digest, d), referrer)
		}
		return nil
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("cannot record manifest %s of %s: %w", d, name, err)
	}
	return Manifest{Digest: d, MediaType: p.MediaType, Size: rec.Size, Subject: rec.Subject}, nil
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
// tag. Errors: ErrNameUnknown, ErrManifestUnknown.
func (r *Registry) Manifest(name string, d digest.Digest, tag string) (Manifest, error) {
	var m Manifest
	err := r.view(name, func(b *bolt.Bucket) error {
		if d == "" {
			var t tagRecord
			v := b.Bucket(tagsBucket).Get([]byte(tag))
			if v == nil || json.Unmarshal(v, &t) != nil {
				return fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
			}
			d = t.Digest
		}
		rec, ok := getManifest(b, d)
		if !ok {
			return fmt.Errorf("%w: %s", ErrManifestUnknown, d)
		}
		m = Manifest{Digest: d, MediaType: rec.MediaType, Size: rec.Size, Subject: rec.Subject}
		return nil
	})
	return m, err
}

// DeleteTag removes one tag; the manifest stays. Errors: ErrNameUnknown,
// ErrManifestUnknown.
func (r *Registry) DeleteTag(name, tag string) error {
	return r.update(name, func(b *bolt.Bucket) error {
		tags := b.Bucket(tagsBucket)
		if tags.Get([]byte(tag)) == nil {
			return fmt.Errorf("%w: tag %s", ErrManifestUnknown, tag)
		}
		return tags.Delete([]byte(tag))
	})
}

// DeleteManifest removes manifest d from repository name, every tag that
// points at it and its entry in its subject's referrers. Errors:
// ErrNameUnknown, ErrManifestUnknown.
func (r *Registry) DeleteManifest(name string, d digest.Digest) error {
	return r.update(name, func(b *bolt.Bucket) error {
		rec, ok := getManifest(b, d)
		if !ok {
			return fmt.Errorf("%w: %s", ErrManifestUnknown, d)
		}
		if err := b.Bucket(manifestsBucket).Delete([]byte(d)); err != nil {
			return err
		}
		if rec.Subject != "" {
			if err := b.Bucket(referrersBucket).Delete(referrerKey(rec.Subject, d)); err != nil {
				return err
			}
		}
		tags := b.Bucket(tagsBucket)
		var drop [][]byte
		err := tags.ForEach(func(k, v []byte) error {
			var t tagRecord
			if json.Unmarshal(v, &t) == nil && t.Digest == d {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := tags.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
