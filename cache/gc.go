package cache

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// GCConfig is the [gc] section: when GC (and retention before it) runs on
// its own, and what it may remove.
type GCConfig struct {
	// Schedule is a cron expression ("0 3 * * *"); "" runs GC only by hand.
	Schedule string `toml:"schedule"`
	// Grace keeps an unreferenced hosted blob (or upload link) younger than
	// this: a push uploads blobs before the manifest that refers to them.
	Grace Duration `toml:"grace"`
	// DeleteUntagged lets GC remove hosted manifests no tag reaches.
	DeleteUntagged bool `toml:"delete_untagged"`
}

// DefaultGCConfig returns the GC defaults.
func DefaultGCConfig() GCConfig {
	return GCConfig{Schedule: "0 3 * * *", Grace: Duration(24 * time.Hour)}
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
	Removed  []GCItem  `json:"removed"`
	Freed    int64     `json:"freed_bytes"`
}

// SetMarkers names the hosted state GC marks from; the app calls it once,
// before serving.
func (c *Cache) SetMarkers(ms ...Marker) { c.markers = ms }

// GC marks every digest the hosted state needs and removes hosted blobs
// that nothing needs and that are older than the grace. Proxied content is
// the LRU's, never GC's. It takes no lock that blocks pulls or pushes.
func (c *Cache) GC(ctx context.Context, o GCOptions) (GCReport, error) {
	return GCReport{}, errors.New("gc is not available yet")
}

// Claim is what a hosted write calls for every blob it is about to refer
// to (a manifest's layers): it reports the blob's size, or ErrNotFound, and
// from then on the blob is hosted content, never evicted, and safe from a
// GC sweep that is running.
func (c *Cache) Claim(ctx context.Context, key string) (Info, error) {
	return c.store.Stat(ctx, key)
}
