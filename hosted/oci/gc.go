package oci

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// Referenced calls fn with every digest hosted state refers to: each
// repository's manifests, the blobs and child manifests they reference, and
// its blob links (possibly several times): everything, live or not. GC
// uses Mark, which also drops what may go.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	ctx, cancel := context.WithCancel(r.life)
	defer cancel()
	for _, name := range r.hostedNames() {
		err := forEachRecord(ctx, r, name, manifestsDir, func(e string, m *manifestRecord) error {
			if err := fn(digest.Digest(e)); err != nil {
				return err
			}
			for _, d := range m.Refs {
				if err := fn(d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		links, err := r.listDir(ctx, repoDir(name, blobsDir))
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := fn(digest.Digest(l)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Mark implements cache.Marker. It drops, repository by repository, the
// records GC may collect and calls keep with every digest the rest needs:
//
//   - with o.DeleteUntagged, a manifest is dropped unless a tag points at
//     it, a live index lists it, its subject is live, or it was put at or
//     after o.Cutoff (a push puts a manifest before its tag); without it,
//     every manifest stays;
//   - a blob link is dropped unless a live manifest references the blob
//     or it was made at or after o.Cutoff (an upload whose manifest has not
//     come yet).
//
// Each record is read again just before it is deleted and kept if it was
// written since (a push on another instance), so only a write in the
// instant between that read and the delete can be lost; GC runs on one
// instance at a time. Dry, it drops nothing but reports and keeps exactly
// what a real run would.
func (r *Registry) Mark(ctx context.Context, o cache.MarkOptions, keep func(digest.Digest)) ([]cache.GCItem, error) {
	dropped := []cache.GCItem{}
	for _, name := range r.hostedNames() {
		if err := ctx.Err(); err != nil {
			return dropped, err
		}
		items, err := r.markRepo(ctx, name, o, keep)
		if err != nil {
			return dropped, fmt.Errorf("cannot collect repository %s: %w", name, err)
		}
		dropped = append(dropped, items...)
	}
	return dropped, nil
}

// markRepo marks and, unless o.DryRun, sweeps the records of one
// repository.
func (r *Registry) markRepo(ctx context.Context, name string, o cache.MarkOptions, keep func(digest.Digest)) ([]cache.GCItem, error) {
	mans := map[digest.Digest]manifestRecord{}
	err := forEachRecord(ctx, r, name, manifestsDir, func(e string, m *manifestRecord) error {
		mans[digest.Digest(e)] = *m
		return nil
	})
	if err != nil {
		return nil, err
	}
	live := map[digest.Digest]bool{}
	if o.DeleteUntagged {
		if live, err = r.reachable(ctx, name, mans, o.Cutoff); err != nil {
			return nil, err
		}
	} else {
		for d := range mans {
			live[d] = true
		}
	}
	needed := map[digest.Digest]bool{}
	var deadMans []digest.Digest
	for d, m := range mans {
		if !live[d] {
			deadMans = append(deadMans, d)
			continue
		}
		keep(d)
		for _, ref := range m.Refs {
			keep(ref)
			needed[ref] = true
		}
	}
	deadLinks, err := r.markLinks(ctx, name, needed, o.Cutoff, keep)
	if err != nil {
		return nil, err
	}
	return r.sweep(ctx, name, o, deadMans, deadLinks)
}

// reachable is the set of live manifests when untagged ones may go: those
// a tag points at or put at or after cutoff, and, from them, the children
// of an index and the referrers of a subject.
func (r *Registry) reachable(ctx context.Context, name string, mans map[digest.Digest]manifestRecord, cutoff time.Time) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	var work []digest.Digest
	add := func(d digest.Digest) {
		if _, ok := mans[d]; ok && !live[d] {
			live[d] = true
			work = append(work, d)
		}
	}
	err := forEachRecord(ctx, r, name, tagsDir, func(_ string, t *tagRecord) error {
		add(t.Digest)
		return nil
	})
	if err != nil {
		return nil, err
	}
	referrers := map[digest.Digest][]digest.Digest{}
	for d, m := range mans {
		if !m.Put.Before(cutoff) {
			add(d)
		}
		if m.Subject != "" {
			referrers[m.Subject] = append(referrers[m.Subject], d)
		}
	}
	for len(work) > 0 {
		d := work[len(work)-1]
		work = work[:len(work)-1]
		if m := mans[d]; isIndex(m.MediaType) {
			for _, child := range m.Refs {
				add(child)
			}
		}
		for _, ref := range referrers[d] {
			add(ref)
		}
	}
	return live, nil
}

// markLinks keeps the blob links a live manifest needs or made at or after
// cutoff, and returns the others.
func (r *Registry) markLinks(ctx context.Context, name string, needed map[digest.Digest]bool, cutoff time.Time, keep func(digest.Digest)) ([]digest.Digest, error) {
	links, err := r.listDir(ctx, repoDir(name, blobsDir))
	if err != nil {
		return nil, err
	}
	var dead []digest.Digest
	for _, l := range links {
		d := digest.Digest(l)
		if needed[d] {
			keep(d)
			continue
		}
		v, err := r.readLink(ctx, name, l)
		if errors.Is(err, cache.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if !decodeLinkTime(v).Before(cutoff) {
			keep(d)
		} else {
			dead = append(dead, d)
		}
	}
	return dead, nil
}

// sweep deletes, unless dry, the dead manifests (with their referrer
// entries) and blob links of repository name, and reports them. A record
// written again since it was judged (its time now at or after the cutoff)
// stays, and is not reported.
func (r *Registry) sweep(ctx context.Context, name string, o cache.MarkOptions, deadMans, deadLinks []digest.Digest) ([]cache.GCItem, error) {
	slices.Sort(deadMans)
	var items []cache.GCItem
	for _, d := range deadMans {
		if !o.DryRun {
			rec, err := r.manifest(ctx, name, d)
			if errors.Is(err, ErrManifestUnknown) || err == nil && !rec.Put.Before(o.Cutoff) {
				continue
			} else if err != nil {
				return nil, err
			}
			if err := r.dropManifest(ctx, name, d, rec); err != nil {
				return nil, err
			}
		}
		items = append(items, cache.GCItem{Key: gcItemKey(name, d), What: "manifest"})
	}
	// A tag always points at a live manifest, so no tag goes with them.
	for _, d := range deadLinks {
		if !o.DryRun {
			v, err := r.readLink(ctx, name, string(d))
			if errors.Is(err, cache.ErrNotFound) || err == nil && !decodeLinkTime(v).Before(o.Cutoff) {
				continue
			} else if err != nil {
				return nil, err
			}
			if err := r.deleteRecord(ctx, repoDir(name, blobsDir)+string(d)); err != nil {
				return nil, err
			}
		}
		items = append(items, cache.GCItem{Key: gcItemKey(name, d), What: "link"})
	}
	return items, nil
}
