// Package maven is the hosted half of nora's Maven repository: what
// `mvn deploy` (or Gradle's maven-publish) creates. The proxy in
// proxy/maven translates HTTP into these calls; this package knows no HTTP.
//
// State is plain objects in the shared cache.Store, so it works on any
// backend (disk now, S3 later):
//
//	hosted/maven/index            -> the hosted directories, JSON
//	hosted/maven/dirs/<dir>/@     -> one dirDoc per artifact directory, JSON
//	blobs/sha256/..               -> the deployed files, content addressed
//
// A directory is "com/acme/lib" for com.acme:lib (or a plugin group's
// directory, which holds its prefix mappings). Each document holds every
// version and file of its artifact and is rewritten whole, atomically
// (Store.Put), under a per-directory mutex: concurrent deploys of one
// artifact never lose a version. maven-metadata.xml is generated from it.
package maven

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
	"nora/internal/fault"
)

const (
	// maxDocBytes caps one artifact's state document: ~50,000 files
	// (SNAPSHOT builds pile up until retention trims them).
	maxDocBytes = 16 << 20
	// maxIndexBytes caps the list of hosted directories.
	maxIndexBytes = 64 << 20
	// maxCachedDocs bounds the decoded documents kept in memory.
	maxCachedDocs = 512
	// commitTimeout bounds the store calls before an upload's body is
	// read, and those after it is in.
	commitTimeout = 2 * time.Minute
)

// dirDoc is the hosted state of one directory.
type dirDoc struct {
	GroupID    string              `json:"groupId"`
	ArtifactID string              `json:"artifactId,omitempty"` // "" for a plugin group only
	Versions   map[string]*version `json:"versions,omitempty"`
	Plugins    []Plugin            `json:"plugins,omitempty"` // a plugin group's prefix mappings
	Updated    time.Time           `json:"updated"`
}

type version struct {
	Files   map[string]*File `json:"files"`
	Updated time.Time        `json:"updated"`
}

// File is one deployed file.
type File struct {
	Digest   digest.Digest `json:"digest"` // sha256: the blob holding the bytes
	SHA1     string        `json:"sha1"`
	MD5      string        `json:"md5"`
	Size     int64         `json:"size"`
	Uploaded time.Time     `json:"uploaded"`
	By       string        `json:"by,omitempty"`
	// Confirmed lists the algorithms whose checksum file the deploying
	// client sent and that matched. A confirmed file can no longer be
	// failed by a later, contradicting checksum (which is just refused).
	Confirmed []string `json:"confirmed,omitempty"`
	// Failed says why the file is not served: a checksum file the client
	// sent before any confirmed it disagreed, so the bytes are not what the
	// client meant to deploy. It is in no metadata, answers 404, and the
	// next upload of the name replaces it (even in a release).
	Failed string `json:"failed,omitempty"`
}

// Plugin is a plugin group's prefix mapping (group-level metadata).
type Plugin struct {
	Name       string `xml:"name,omitempty" json:"name,omitempty"`
	Prefix     string `xml:"prefix" json:"prefix"`
	ArtifactID string `xml:"artifactId" json:"artifactId"`
}

// Blobs is what the hosted state needs of the content-addressed cache:
// committing an upload's temp file and reading a deployed file back.
type Blobs interface {
	TempDir() string
	CommitFile(ctx context.Context, tmpPath, key string, size int64) error
	Open(ctx context.Context, key string) (*cache.Object, error)
}

// Registry is the hosted Maven state of one nora instance.
type Registry struct {
	store cache.Store
	blobs Blobs
	log   *slog.Logger
	now   func() time.Time

	dirs *hosted.Names // the index: {"dirs":[...]}

	locks keyedMutex // per directory: read-modify-write of its document

	docsMu sync.Mutex
	docs   map[string]*dirDoc // decoded documents; never modified once here
	// writes counts saveDoc calls: a reader caches what it loaded only if
	// no write happened meanwhile, or it could put back an older document.
	writes uint64
}

// Open loads the hosted state kept in store; the deployed files live in
// blobs.
func Open(ctx context.Context, store cache.Store, blobs Blobs, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dirs, err := hosted.LoadNames(ctx, store, indexKey, "dirs", maxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot load hosted maven index: %w", err)
	}
	return &Registry{store: store, blobs: blobs, log: log, now: time.Now, dirs: dirs, docs: map[string]*dirDoc{}}, nil
}

// Hosted reports whether dir ("com/acme/lib") is hosted. Everything under
// a hosted directory is served from hosted state only, never looked up
// upstream (DESIGN 2.4). It answers from memory.
func (r *Registry) Hosted(dir string) bool { return r.dirs.Has(dir) }

// hostDir records dir as hosted, before its document is written: a crash
// in between leaves a hosted directory with nothing in it (404s), never
// hosted files that the index forgot and that upstream could then shadow.
//
// This is also how a proxied name turns hosted: from the first deploy on,
// whatever nora cached from upstream for the directory is never served
// again (it is evicted like any unused cache entry), and upstream is
// never asked about it.
func (r *Registry) hostDir(ctx context.Context, dir string) error {
	if err := r.dirs.Add(ctx, dir); err != nil {
		return fmt.Errorf("cannot record %s as hosted: %w", dir, err)
	}
	return nil
}

func (r *Registry) get(ctx context.Context, key string, limit int64) ([]byte, error) {
	return hosted.Read(ctx, r.store, key, limit)
}

// doc returns dir's document for reading (shared: never modify it), nil
// if there is none.
func (r *Registry) doc(ctx context.Context, dir string) (*dirDoc, error) {
	r.docsMu.Lock()
	d, ok := r.docs[dir]
	writes := r.writes
	r.docsMu.Unlock()
	if ok {
		return d, nil
	}
	d, err := r.loadDoc(ctx, dir)
	if err != nil || d == nil {
		return nil, err
	}
	r.docsMu.Lock()
	if r.writes == writes {
		r.cacheLocked(dir, d)
	}
	r.docsMu.Unlock()
	return d, nil
}

// loadDoc reads dir's document from the store: a private copy to modify.
func (r *Registry) loadDoc(ctx context.Context, dir string) (*dirDoc, error) {
	b, err := r.get(ctx, docKey(dir), maxDocBytes)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &dirDoc{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("cannot decode hosted state of %s: %w", dir, err)
	}
	return d, nil
}

func (r *Registry) cacheLocked(dir string, d *dirDoc) {
	if len(r.docs) >= maxCachedDocs {
		clear(r.docs)
	}
	r.docs[dir] = d
}

// saveDoc writes dir's document atomically; the caller holds dir's lock
// and gives up d.
func (r *Registry) saveDoc(ctx context.Context, dir string, d *dirDoc) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if len(b) > maxDocBytes {
		return fault.Newf(fault.NoSpace, "too many files deployed for this artifact: the state of %s would take %d bytes (cap %d)", dir, len(b), maxDocBytes)
	}
	if err := r.store.Put(ctx, docKey(dir), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot store hosted state of %s: %w", dir, err)
	}
	r.docsMu.Lock()
	r.writes++
	r.cacheLocked(dir, d)
	r.docsMu.Unlock()
	return nil
}

// Referenced calls fn with the sha256 of every file hosted state serves.
// Hosted files are never evicted; GC keeps what this walk reports. Failed
// files are not reported: nothing serves them.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	ctx := context.Background()
	for _, dir := range r.dirs.List() {
		d, err := r.doc(ctx, dir)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		for _, v := range d.Versions {
			for _, f := range v.Files {
				if f.Failed != "" {
					continue
				}
				if err := fn(f.Digest); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// keyedMutex is one mutex per key, dropped when nobody holds or waits for
// it, so it stays as small as the number of deploys under way.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*countedMutex
}

type countedMutex struct {
	sync.Mutex
	n int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*countedMutex{}
	}
	m := k.m[key]
	if m == nil {
		m = &countedMutex{}
		k.m[key] = m
	}
	m.n++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.n--; m.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
