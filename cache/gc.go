package cache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"nora/internal/fault"
	"nora/internal/units"

	"github.com/opencontainers/go-digest"
)

// GCConfig is the [gc] section: when GC (and retention before it) runs on
// its own, and what it may remove.
type GCConfig struct {
	// Schedule is a cron expression ("0 3 * * *"); "" runs GC only by hand.
	Schedule string `toml:"schedule"`
	// Grace keeps an unreferenced hosted blob (or upload link) younger than
	// this: a push uploads blobs before the manifest that refers to them.
	Grace units.Duration `toml:"grace"`
	// DeleteUntagged lets GC remove hosted manifests no tag reaches.
	DeleteUntagged bool `toml:"delete_untagged"`
}

// DefaultGCConfig returns the GC defaults.
func DefaultGCConfig() GCConfig {
	return GCConfig{Schedule: "0 3 * * *", Grace: units.Duration(24 * time.Hour)}
}

// MarkOptions tell a Marker which of its records GC may drop.
type MarkOptions struct {
	// Cutoff: records (upload links) created before it that nothing else
	// needs may be dropped; newer ones are kept.
	Cutoff time.Time
	// DeleteUntagged: manifests no tag reaches may be dropped.
	DeleteUntagged bool
	// DryRun: drop nothing, but report and mark as if the records were
	// dropped.
	DryRun bool
}

// GCItem is one thing a GC or retention run removed (or, dry, would).
type GCItem struct {
	Key  string `json:"key"`            // store key, or the record ("oci:repo@sha256:...")
	Size int64  `json:"size"`           // bytes freed; 0 for records
	What string `json:"what,omitempty"` // "blob", "manifest", "link", ...
}

// Marker is hosted state taking part in GC: it calls keep with every
// digest it still needs, after dropping the records o allows (it reports
// those). The hosted registries implement it; a plain Referenced walk is
// adapted by Referenced.
type Marker interface {
	Mark(ctx context.Context, o MarkOptions, keep func(digest.Digest)) ([]GCItem, error)
}

// Referenced adapts a walk of every digest hosted state refers to (the
// hosted registries' Referenced method) into a Marker that drops nothing.
func Referenced(walk func(fn func(digest.Digest) error) error) Marker { return referencedMarker(walk) }

type referencedMarker func(fn func(digest.Digest) error) error

func (m referencedMarker) Mark(_ context.Context, _ MarkOptions, keep func(digest.Digest)) ([]GCItem, error) {
	return nil, m(func(d digest.Digest) error { keep(d); return nil })
}

// GCOptions tune one GC run.
type GCOptions struct {
	Grace          time.Duration
	DeleteUntagged bool
	DryRun         bool
	// Progress, if set, is called now and then with the blobs examined so
	// far and the total to examine.
	Progress func(done, total int64)
}

// GCReport is what a GC run did (or, dry, would do).
type GCReport struct {
	DryRun   bool      `json:"dry_run"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Marked   int64     `json:"marked"`  // digests hosted state needs
	Scanned  int64     `json:"scanned"` // hosted blobs examined
	// Removed lists what went, up to MaxReportItems; Count is all of it.
	Removed []GCItem `json:"removed"`
	Count   int64    `json:"removed_count"`
	Freed   int64    `json:"freed_bytes"`
}

// MaxReportItems bounds the items a report lists, so a run over millions
// of blobs does not hold them all in memory (the totals count them all).
const MaxReportItems = 10000

func (r *GCReport) add(it GCItem) {
	r.Count++
	r.Freed += it.Size
	if len(r.Removed) < MaxReportItems {
		r.Removed = append(r.Removed, it)
	}
}

// SetMarkers names the hosted state GC marks from; the app calls it once,
// before Start.
func (c *Cache) SetMarkers(ms ...Marker) { c.markers = ms }

// gcState is what a running GC shares with the hosted writes: the keys
// they claimed since it began, which its sweep must spare.
type gcState struct {
	mu      sync.Mutex
	running bool
	claimed map[string]struct{}
}

func (g *gcState) claim(key string) {
	g.mu.Lock()
	if g.running {
		g.claimed[key] = struct{}{}
	}
	g.mu.Unlock()
}

func (g *gcState) isClaimed(key string) bool {
	g.mu.Lock()
	_, ok := g.claimed[key]
	g.mu.Unlock()
	return ok
}

// ErrGCRunning is returned by GC while another run is under way.
var ErrGCRunning = errors.New("a GC run is already under way")

// errLeaseLost ends a GC whose instance lost the maintenance lease.
var errLeaseLost = fault.New(fault.Conflict, "the maintenance lease was lost during the run: another instance runs eviction and GC now")

// GC marks every digest the hosted state needs (after the markers dropped
// the records they may: untagged manifests, stale upload links) and
// removes hosted blobs that nothing needs and that were committed before
// the grace. Proxied content is the LRU's, never GC's. It takes no lock
// that blocks pulls or pushes: a blob that a hosted write claims while it
// runs, or that is committed after it began, is spared. On a shared store
// it runs only on the holder of the maintenance lease (ErrLeaseHeld
// elsewhere), reconciles the index with the store first, and spares what
// the store says was written within the grace (at least SharedGrace)
// before it began: another instance may have committed it for a manifest
// not written yet.
func (c *Cache) GC(ctx context.Context, o GCOptions) (GCReport, error) {
	lease := c.evict.lease
	rep := GCReport{DryRun: o.DryRun, Started: c.evict.now(), Removed: []GCItem{}}
	if !lease.Held() {
		if held, err := lease.step(ctx); err != nil || !held {
			return rep, errors.Join(lease.errHeld(), err)
		}
	}
	c.gc.mu.Lock()
	if c.gc.running {
		c.gc.mu.Unlock()
		return rep, ErrGCRunning
	}
	c.gc.running, c.gc.claimed = true, map[string]struct{}{}
	c.gc.mu.Unlock()
	defer func() {
		c.gc.mu.Lock()
		c.gc.running, c.gc.claimed = false, nil
		c.gc.mu.Unlock()
	}()
	grace, storeCutoff := o.Grace, time.Time{}
	if lease.Shared() {
		grace = max(grace, SharedGrace)
		storeCutoff = rep.Started.Add(-grace)
		if _, err := c.reconcile(ctx, true); err != nil {
			return rep, fmt.Errorf("cannot reconcile the index with the store: %w", err)
		}
	}
	c.maintenance.RLock()
	defer c.maintenance.RUnlock()

	cutoff := rep.Started.Add(-grace)
	live, err := c.mark(ctx, o, cutoff, &rep)
	if err != nil {
		return rep, err
	}
	if err := c.index.Flush(); err != nil { // kinds claimed so far
		return rep, fmt.Errorf("cannot flush index: %w", err)
	}
	if err := c.sweep(ctx, o, storeCutoff, func(k string, e Entry) bool {
		return e.Hosted && e.Added.Before(cutoff) && !live.hasKey(k) && !c.gc.isClaimed(k)
	}, &rep); err != nil {
		return rep, err
	}
	rep.Finished = c.evict.now()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if !lease.Held() {
		return rep, errLeaseLost
	}
	c.log.Info("gc finished", "dry_run", o.DryRun, "marked", rep.Marked, "scanned", rep.Scanned,
		"removed", rep.Count, "freed_bytes", rep.Freed, "took", rep.Finished.Sub(rep.Started).String())
	return rep, nil
}

// mark collects the digests the hosted state needs, after each marker
// dropped (and reported) the records o allows.
func (c *Cache) mark(ctx context.Context, o GCOptions, cutoff time.Time, rep *GCReport) (*digestSet, error) {
	live := newDigestSet()
	for _, m := range c.markers {
		items, err := m.Mark(ctx, MarkOptions{Cutoff: cutoff, DeleteUntagged: o.DeleteUntagged, DryRun: o.DryRun}, live.add)
		for _, it := range items {
			rep.add(it)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot mark hosted content: %w", err)
		}
	}
	rep.Marked = live.len()
	return live, nil
}

// sweep walks the index and removes (unless dry) the objects dead says
// are dead and the store did not see written after storeCutoff (if set),
// reporting them; it stops early when ctx ends or the lease is lost.
func (c *Cache) sweep(ctx context.Context, o GCOptions, storeCutoff time.Time, dead func(k string, e Entry) bool, rep *GCReport) error {
	_, _, total := c.index.Usage()
	var seen int64
	after := ""
	var pending []victim // removed from the store, not yet from the index
	for {
		var vs []victim
		last, err := c.index.scan(after, 256, func(k string, e Entry) {
			seen++
			if e.Hosted {
				rep.Scanned++
			}
			if dead(k, e) {
				vs = append(vs, victim{key: k, added: e.Added, size: e.Size})
			}
		})
		if err != nil {
			return fmt.Errorf("cannot scan index: %w", err)
		}
		if !o.DryRun && len(vs) > 0 {
			vs = c.removeObjects(ctx, vs, storeCutoff, func(k string, e Entry) bool { return !dead(k, e) })
			pending = append(pending, vs...)
		}
		for _, v := range vs {
			rep.add(GCItem{Key: v.key, Size: v.size, What: "blob"})
		}
		if len(pending) >= forgetBatch || (last == "" || ctx.Err() != nil || !c.evict.lease.Held()) && len(pending) > 0 {
			c.forget(pending)
			pending = pending[:0]
		}
		if o.Progress != nil {
			o.Progress(seen, max(total, seen))
		}
		if last == "" || ctx.Err() != nil || !c.evict.lease.Held() {
			return nil
		}
		after = last
	}
}

// Claim is what a hosted write calls for every blob it is about to refer
// to (a manifest's layers): it reports the blob's size, or ErrNotFound, and
// from then on the blob is hosted content, never evicted, and spared by a
// GC sweep that is running; on a shared store the lease holder spares it
// too (lease_claims.go), the mark written before the look.
func (c *Cache) Claim(ctx context.Context, key string) (Info, error) {
	c.settle(ctx, key) // a fill committing it ends first
	l := c.keyLock(key)
	l.Lock()
	defer l.Unlock()
	if err := c.markClaim(ctx, key); err != nil {
		return Info{}, err
	}
	info, err := c.store.Stat(ctx, key)
	if err != nil {
		return info, err
	}
	c.claimed(key)
	return info, nil
}

// claimed makes key hosted and spares it from a running sweep; the caller
// holds its key lock.
func (c *Cache) claimed(key string) {
	if e, ok := c.index.Get(key); ok && !e.Hosted {
		c.index.MarkHosted(key)
	}
	c.gc.claim(key)
}

// digestSet holds the marked digests compactly: 32 bytes a sha256.
type digestSet struct {
	sha256 map[[32]byte]struct{}
	other  map[string]struct{}
}

func newDigestSet() *digestSet {
	return &digestSet{sha256: map[[32]byte]struct{}{}, other: map[string]struct{}{}}
}

func (s *digestSet) add(d digest.Digest) {
	if d.Validate() != nil {
		return
	}
	s.addKey(BlobKey(d))
}

func (s *digestSet) addKey(key string) {
	if b, ok := sha256Of(key); ok {
		s.sha256[b] = struct{}{}
		return
	}
	s.other[key] = struct{}{}
}

func (s *digestSet) hasKey(key string) bool {
	if b, ok := sha256Of(key); ok {
		_, found := s.sha256[b]
		return found
	}
	_, found := s.other[key]
	return found
}

func (s *digestSet) len() int64 { return int64(len(s.sha256) + len(s.other)) }

// sha256Of returns the digest bytes of a sha256 BlobKey.
func sha256Of(key string) ([32]byte, bool) {
	var b [32]byte
	const prefix = "blobs/sha256/"
	if !strings.HasPrefix(key, prefix) || len(key) != len(prefix)+3+64 {
		return b, false
	}
	_, err := hex.Decode(b[:], []byte(key[len(prefix)+3:]))
	return b, err == nil
}
