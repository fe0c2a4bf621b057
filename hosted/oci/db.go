package oci

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"nora/cache"
)

// The bbolt layout. "repos" holds one bucket per repository, named by the
// repository as clients send it; bbolt keeps keys sorted, so tag lists and
// the catalog page with n/last by a cursor seek.
//
//	repos/<name>/tags/<tag>                      -> tagRecord (JSON)
//	repos/<name>/manifests/<digest>              -> manifestRecord (JSON)
//	repos/<name>/blobs/<digest>                  -> link: size, unix nanos linked (8 bytes each, big endian; older links hold the size only)
//	repos/<name>/referrers/<subject>\x00<digest> -> v1.Descriptor (JSON)
var (
	reposBucket     = []byte("repos")
	tagsBucket      = []byte("tags")
	manifestsBucket = []byte("manifests")
	blobsBucket     = []byte("blobs")
	referrersBucket = []byte("referrers")
)

type tagRecord struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
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

// Registry is the hosted OCI state of one nora instance.
type Registry struct {
	db    *bolt.DB
	blobs Blobs
	cfg   Config
	log   *slog.Logger
	// now is when a link or a manifest put happens (GC's cutoff compares
	// with it); tests set it.
	now func() time.Time

	mu      sync.Mutex
	uploads map[string]*Upload

	stop chan struct{}
	done chan struct{}
}

// Open opens (or creates) the hosted state file at path; blob and manifest
// bytes go to c. It starts the janitor of idle upload sessions.
func Open(path string, c Blobs, cfg Config, log *slog.Logger) (*Registry, error) {
	def := DefaultConfig()
	if cfg.UploadIdle <= 0 {
		cfg.UploadIdle = def.UploadIdle
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = def.MaxUploads
	}
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cannot open hosted state %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(reposBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot init hosted state %s: %w", path, err)
	}
	r := &Registry{db: db, blobs: c, cfg: cfg, log: log, now: time.Now, uploads: map[string]*Upload{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.janitor()
	return r, nil
}

// Close cancels open upload sessions and closes the state file.
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
	return r.db.Close()
}

// Exists reports whether name is a hosted repository. A name that exists
// hosted is served only from hosted state (DESIGN 2.4).
func (r *Registry) Exists(name string) bool {
	found := false
	r.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(reposBucket).Bucket([]byte(name)) != nil
		return nil
	})
	return found
}

// repo returns the buckets of repository name (nil if it is not hosted).
func repo(tx *bolt.Tx, name string) *bolt.Bucket {
	return tx.Bucket(reposBucket).Bucket([]byte(name))
}

// view runs fn in a read transaction on the buckets of repository name;
// ErrNameUnknown if it is not hosted.
func (r *Registry) view(name string, fn func(b *bolt.Bucket) error) error {
	return r.db.View(func(tx *bolt.Tx) error { return inRepo(tx, name, fn) })
}

// update is view in a write transaction.
func (r *Registry) update(name string, fn func(b *bolt.Bucket) error) error {
	return r.db.Update(func(tx *bolt.Tx) error { return inRepo(tx, name, fn) })
}

func inRepo(tx *bolt.Tx, name string, fn func(b *bolt.Bucket) error) error {
	b := repo(tx, name)
	if b == nil {
		return ErrNameUnknown
	}
	return fn(b)
}

// createRepo returns the bucket of name, creating the repository: the first
// write that stores something makes a name hosted.
func createRepo(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	b, err := tx.Bucket(reposBucket).CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("cannot create repository %s: %w", name, err)
	}
	for _, sub := range [][]byte{tagsBucket, manifestsBucket, blobsBucket, referrersBucket} {
		if _, err := b.CreateBucketIfNotExists(sub); err != nil {
			return nil, fmt.Errorf("cannot create repository %s: %w", name, err)
		}
	}
	return b, nil
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

func getManifest(repoB *bolt.Bucket, d digest.Digest) (manifestRecord, bool) {
	var m manifestRecord
	v := repoB.Bucket(manifestsBucket).Get([]byte(d))
	if v == nil || json.Unmarshal(v, &m) != nil {
		return m, false
	}
	return m, true
}

// Referenced calls fn with every digest hosted state refers to: each
// repository's manifests, the blobs and child manifests they reference, and
// its blob links (possibly several times): everything, live or not. GC
// uses Mark, which also drops what may go. fn runs inside a read
// transaction: it should only collect.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	return r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(reposBucket).ForEach(func(name, _ []byte) error {
			b := tx.Bucket(reposBucket).Bucket(name)
			if b == nil {
				return nil
			}
			err := b.Bucket(manifestsBucket).ForEach(func(k, v []byte) error {
				if err := fn(digest.Digest(k)); err != nil {
					return err
				}
				var m manifestRecord
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("cannot decode manifest %s of %s: %w", k, name, err)
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
			return b.Bucket(blobsBucket).ForEach(func(k, _ []byte) error { return fn(digest.Digest(k)) })
		})
	})
}
