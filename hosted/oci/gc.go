package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"nora/cache"
)

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
// Each repository is one bbolt transaction, so a push never waits long
// and never sees half a repository collected. Dry, it drops nothing but
// reports and keeps exactly what a real run would.
func (r *Registry) Mark(ctx context.Context, o cache.MarkOptions, keep func(digest.Digest)) ([]cache.GCItem, error) {
	var names []string
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(reposBucket).ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list hosted repositories: %w", err)
	}
	run := r.db.Update
	if o.DryRun {
		run = r.db.View
	}
	dropped := []cache.GCItem{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return dropped, err
		}
		var items []cache.GCItem
		err := run(func(tx *bolt.Tx) error {
			b := repo(tx, name)
			if b == nil {
				return nil // deleted meanwhile
			}
			var err error
			items, err = markRepo(b, name, o, keep)
			return err
		})
		if err != nil {
			return dropped, fmt.Errorf("cannot collect repository %s: %w", name, err)
		}
		dropped = append(dropped, items...)
	}
	return dropped, nil
}

// markRepo marks and, unless o.DryRun, sweeps the records of one
// repository; b belongs to a write transaction unless o.DryRun.
func markRepo(b *bolt.Bucket, name string, o cache.MarkOptions, keep func(digest.Digest)) ([]cache.GCItem, error) {
	mans, err := readManifests(b)
	if err != nil {
		return nil, err
	}
	live := map[digest.Digest]bool{}
	if o.DeleteUntagged {
		if live, err = reachable(b, mans, o.Cutoff); err != nil {
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
	deadLinks, err := markLinks(b, needed, o.Cutoff, keep)
	if err != nil {
		return nil, err
	}
	return sweep(b, name, mans, deadMans, deadLinks, o.DryRun)
}

func readManifests(b *bolt.Bucket) (map[digest.Digest]manifestRecord, error) {
	mans := map[digest.Digest]manifestRecord{}
	err := b.Bucket(manifestsBucket).ForEach(func(k, v []byte) error {
		var m manifestRecord
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("cannot decode manifest %s: %w", k, err)
		}
		mans[digest.Digest(k)] = m
		return nil
	})
	return mans, err
}

// reachable is the set of live manifests when untagged ones may go: those
// a tag points at or put at or after cutoff, and, from them, the children
// of an index and the referrers of a subject.
func reachable(b *bolt.Bucket, mans map[digest.Digest]manifestRecord, cutoff time.Time) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	var work []digest.Digest
	add := func(d digest.Digest) {
		if _, ok := mans[d]; ok && !live[d] {
			live[d] = true
			work = append(work, d)
		}
	}
	err := b.Bucket(tagsBucket).ForEach(func(k, v []byte) error {
		var t tagRecord
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("cannot decode tag %s: %w", k, err)
		}
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
func markLinks(b *bolt.Bucket, needed map[digest.Digest]bool, cutoff time.Time, keep func(digest.Digest)) ([]digest.Digest, error) {
	var dead []digest.Digest
	err := b.Bucket(blobsBucket).ForEach(func(k, v []byte) error {
		d := digest.Digest(k)
		if needed[d] || !decodeLinkTime(v).Before(cutoff) {
			keep(d)
		} else {
			dead = append(dead, d)
		}
		return nil
	})
	return dead, err
}

// sweep deletes, unless dry, the dead manifests (with their referrer
// entries) and blob links of repository name, and reports them.
func sweep(b *bolt.Bucket, name string, mans map[digest.Digest]manifestRecord, deadMans, deadLinks []digest.Digest, dry bool) ([]cache.GCItem, error) {
	slices.Sort(deadMans)
	var items []cache.GCItem
	for _, d := range deadMans {
		if !dry {
			if err := b.Bucket(manifestsBucket).Delete([]byte(d)); err != nil {
				return nil, err
			}
			if s := mans[d].Subject; s != "" {
				if err := b.Bucket(referrersBucket).Delete(referrerKey(s, d)); err != nil {
					return nil, err
				}
			}
		}
		items = append(items, cache.GCItem{Key: gcItemKey(name, d), What: "manifest"})
	}
	// A tag always points at a live manifest, so no tag goes with them.
	for _, d := range deadLinks {
		if !dry {
			if err := b.Bucket(blobsBucket).Delete([]byte(d)); err != nil {
				return nil, err
			}
		}
		items = append(items, cache.GCItem{Key: gcItemKey(name, d), What: "link"})
	}
	return items, nil
}
