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
// version and file of its artifact and is rewritten whole, as a
// read-modify-write with cache.Update (under a per-directory mutex, which
// makes its retries rare), and read through on every use: nora instances
// sharing one bucket see each other's deploys at once, and concurrent
// deploys of one artifact never lose a version, on one instance or on
// several. maven-metadata.xml is generated from it.
package maven

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

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
	docs   map[string]cachedDoc // decoded documents; never modified once here
	reads  singleflight.Group   // concurrent reads of one document share one
}

// cachedDoc is a decoded document and the hash of the bytes it came from:
// a document read again unchanged is not decoded again.
type cachedDoc struct {
	rev [sha256.Size]byte
	d   *dirDoc
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
	dirs.SetLog(log)
	return &Registry{store: store, blobs: blobs, log: log, now: time.Now, dirs: dirs, docs: map[string]cachedDoc{}}, nil
}

// Hosted reports whether dir ("com/acme/lib") is hosted. Everything under
// a hosted directory is served from hosted state only, never looked up
// upstream (DESIGN 2.4). A directory not hosted in memory is looked up
// in the stored index first (hosted.Names reads through).
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
// if there is none. It is read from the store every time (concurrent
// reads share one), so another instance's deploy is seen at once.
func (r *Registry) doc(ctx context.Context, dir string) (*dirDoc, error) {
	v, err, _ := r.reads.Do(dir, func() (any, error) {
		// Shared by every caller: one leaving must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		b, err := r.get(ctx, docKey(dir), maxDocBytes)
		if errors.Is(err, cache.ErrNotFound) {
			return (*dirDoc)(nil), nil
		}
		if err != nil {
			return nil, err
		}
		return r.decode(dir, b)
	})
	if err != nil {
		return nil, err
	}
	return v.(*dirDoc), nil
}

// decode returns the document stored as b, from memory when it is the
// one decoded last.
func (r *Registry) decode(dir string, b []byte) (*dirDoc, error) {
	rev := sha256.Sum256(b)
	r.docsMu.Lock()
	c, ok := r.docs[dir]
	r.docsMu.Unlock()
	if ok && c.rev == rev {
		return c.d, nil
	}
	d, err := decodeDoc(dir, b)
	if err != nil {
		return nil, err
	}
	r.remember(dir, rev, d)
	return d, nil
}

func (r *Registry) remember(dir string, rev [sha256.Size]byte, d *dirDoc) {
	r.docsMu.Lock()
	defer r.docsMu.Unlock()
	if len(r.docs) >= maxCachedDocs {
		clear(r.docs)
	}
	r.docs[dir] = cachedDoc{rev: rev, d: d}
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
	return decodeDoc(dir, b)
}

func decodeDoc(dir string, b []byte) (*dirDoc, error) {
	d := &dirDoc{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("cannot decode hosted state of %s: %w", dir, err)
	}
	return d, nil
}

// changeDoc rewrites dir's document with cache.Update: fn gets a private
// copy of the stored document (nil if there is none) and returns the next
// one, or nil to leave it as it is. fn runs again on the newer document
// when another instance wrote it in between, so it must decide from d
// alone; its error comes back as it is. The caller holds dir's lock.
func (r *Registry) changeDoc(ctx context.Context, dir string, fn func(d *dirDoc) (*dirDoc, error)) error {
	var fnErr error
	var written []byte
	var wrote *dirDoc
	err := hosted.Update(ctx, r.store, docKey(dir), maxDocBytes, func(old []byte) ([]byte, error) {
		var d *dirDoc
		if old != nil {
			if d, fnErr = decodeDoc(dir, old); fnErr != nil {
				return nil, fnErr
			}
		}
		next, err := fn(d)
		if fnErr, written = err, nil; err != nil || next == nil {
			return nil, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, err
		}
		if len(b) > maxDocBytes {
			fnErr = fault.Newf(fault.NoSpace, "too many files deployed for this artifact: the state of %s would take %d bytes (cap %d)", dir, len(b), maxDocBytes)
			return nil, fnErr
		}
		written, wrote = b, next
		return b, nil
	})
	switch {
	case err == nil:
		if written != nil {
			// fn's private copy: shared for reading from now on.
			r.remember(dir, sha256.Sum256(written), wrote)
		}
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr
	default:
		return fmt.Errorf("cannot store hosted state of %s: %w", dir, err)
	}
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
