package oci

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
)

// maxRecord caps one state object when read back: a referrer descriptor
// carries the manifest's annotations, the rest is small.
const maxRecord = 4 << 20

// opTimeout bounds the store calls of a method that has no context of its
// own (the API predates shared state); they run in the registry's life.
const opTimeout = time.Minute

// negativeTTL is how long "this repository is not hosted" is believed
// before the stored names are read again: a push on another instance is
// seen by this one within it.
const negativeTTL = time.Second

type tagRecord struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	// Size and Subject copy the manifest's record, so a GET by tag reads
	// one record; zero in tags from before they were kept, which send the
	// reader on to the manifest's record.
	Size    int64         `json:"size,omitempty"`
	Subject digest.Digest `json:"subject,omitempty"`
	// Created is when the tag was last put; zero for tags from before it
	// was kept (retention takes them for the oldest).
	Created time.Time `json:"created,omitzero"`
}

type manifestRecord struct {
	MediaType    string        `json:"mediaType"`
	Size         int64         `json:"size"`
	ArtifactType string        `json:"artifactType,omitempty"`
	Subject      digest.Digest `json:"subject,omitempty"`
	// Refs are the blobs and child manifests the manifest references, kept
	// so GC never collects what a hosted manifest needs even after its blob
	// links were deleted.
	Refs []digest.Digest `json:"refs,omitempty"`
	// Put is when the manifest was last put; zero for older records. GC
	// keeps an untagged manifest put after its cutoff: a push puts the
	// manifest first and may tag it in a later request.
	Put time.Time `json:"put,omitzero"`
}

// Blobs is what the registry needs of the shared content-addressed store
// (a *cache.Cache): hosted and proxied content share identical blobs.
type Blobs interface {
	// TempDir is where upload sessions stream, on the store's file system.
	TempDir() string
	// CommitFile makes a verified temp file the object key.
	CommitFile(ctx context.Context, tmpPath, key string, size int64) error
	// Claim stats key and keeps a running GC from sweeping it.
	Claim(ctx context.Context, key string) (cache.Info, error)
	// PutHostedBlob stores b as blob d, never evicted.
	PutHostedBlob(ctx context.Context, d digest.Digest, b []byte) error
}

// Registry is the hosted OCI state as one nora instance sees it; several
// instances on one store see the same state.
type Registry struct {
	store cache.Store
	list  cache.Lister
	blobs Blobs
	cfg   Config
	log   *slog.Logger
	life  context.Context
	// now is when a link or a manifest put happens (GC's cutoff compares
	// with it); tests set it.
	now func() time.Time

	names *hosted.Names
	// known are the names seen hosted (a repository stays hosted until
	// deleted, which nothing does yet); checked is when the stored names
	// were last read for a name not in known.
	knownMu sync.Mutex
	known   map[string]bool
	checked time.Time

	mu      sync.Mutex
	uploads map[string]*Upload

	stop chan struct{}
	done chan struct{}
}

// Open opens the hosted state kept in store; blob and manifest bytes go to
// c. ctx is the server's lifetime: store calls that outlive a request run
// in it. A state file of an older nora at legacy ("" for none) is imported
// first, then renamed to <legacy>.imported. Open starts the janitor of
// idle upload sessions.
func Open(ctx context.Context, store cache.Store, c Blobs, legacy string, cfg Config, log *slog.Logger) (*Registry, error) {
	def := DefaultConfig()
	if cfg.UploadIdle <= 0 {
		cfg.UploadIdle = def.UploadIdle
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = def.MaxUploads
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lister, ok := store.(cache.Lister)
	if !ok {
		return nil, fmt.Errorf("hosted OCI state needs a store that lists its objects")
	}
	names, err := hosted.LoadNames(ctx, store, namesKey, "", maxRecord*4)
	if err != nil {
		return nil, fmt.Errorf("cannot load the hosted OCI repositories: %w", err)
	}
	names.SetLog(log)
	r := &Registry{store: store, list: lister, blobs: c, cfg: cfg, log: log, life: ctx, now: time.Now,
		names: names, known: map[string]bool{}, uploads: map[string]*Upload{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if legacy != "" {
		if err := r.importLegacy(ctx, legacy); err != nil {
			return nil, err
		}
	}
	go r.janitor()
	return r, nil
}

// Close cancels this instance's open upload sessions (a shared session's
// objects stay for another instance, or the janitor).
func (r *Registry) Close() error {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	ups := r.uploads
	r.uploads = map[string]*Upload{}
	r.mu.Unlock()
	for _, u := range ups {
		u.discard()
	}
	return nil
}

// opCtx is the context of store calls made for a method without one.
func (r *Registry) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.life, opTimeout)
}

// Exists reports whether name is a hosted repository. A name that exists
// hosted is served only from hosted state (DESIGN 2.4). A yes is kept in
// memory; a no is rechecked against the stored names once negativeTTL has
// passed, so a repository created on another instance is seen here within
// a second, at a cost of one store read a second at most.
func (r *Registry) Exists(name string) bool {
	r.knownMu.Lock()
	if r.known[name] {
		r.knownMu.Unlock()
		return true
	}
	fresh := time.Since(r.checked) < negativeTTL
	r.knownMu.Unlock()
	if fresh {
		return false
	}
	list := r.names.List() // reads the stored set through
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	for _, n := range list {
		r.known[n] = true
	}
	r.checked = time.Now()
	return r.known[name]
}

// hostedNames lists the hosted repositories, read through to the store.
func (r *Registry) hostedNames() []string { return r.names.List() }

// createRepo makes name hosted: the first write that stores something
// does, before its records exist, so a record never hides from the
// catalog.
func (r *Registry) createRepo(ctx context.Context, name string) error {
	r.knownMu.Lock()
	k := r.known[name]
	r.knownMu.Unlock()
	if k {
		return nil
	}
	if err := r.names.Add(ctx, name); err != nil {
		return fmt.Errorf("cannot create repository %s: %w", name, err)
	}
	r.knownMu.Lock()
	r.known[name] = true
	r.knownMu.Unlock()
	return nil
}

// inRepo is ErrNameUnknown unless name is hosted.
func (r *Registry) inRepo(name string) error {
	if !r.Exists(name) {
		return ErrNameUnknown
	}
	return nil
}

// encodeLink is the value of a blob link: its size and when it was linked.
func encodeLink(size int64, at time.Time) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(at.UnixNano()))
	return b
}

// decodeSize is a link's size, -1 if b is no link.
func decodeSize(b []byte) int64 {
	if len(b) != 8 && len(b) != 16 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(b))
}

// decodeLinkTime is when a link was made; zero for links from before that
// was kept.
func decodeLinkTime(b []byte) time.Time {
	if len(b) != 16 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[8:])))
}
