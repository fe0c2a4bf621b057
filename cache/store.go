// Package cache is nora's content store: the Store port and its adapters,
// the streaming single-flight fill, refs with validators, and the local index.
// It knows no registry format and no HTTP framework.
package cache

import (
	"context"
	"io"
	"os"
	"time"

	"nora/internal/fault"
)

// ErrNotFound is returned by a Store when a key holds no committed object.
var ErrNotFound = fault.New(fault.NotFound, "object not found")

// Info describes a committed object.
type Info struct {
	Size    int64
	ModTime time.Time
}

// Store is the port every storage backend implements. Keys are slash
// separated relative paths ("blobs/sha256/ab/abcd...", "refs/..."); adapters
// must never let a key escape their root. Put is atomic: a reader sees the
// whole object or nothing.
type Store interface {
	Stat(ctx context.Context, key string) (Info, error)
	// Get returns the object's bytes from offset to the end.
	Get(ctx context.Context, key string, offset int64) (io.ReadCloser, Info, error)
	Put(ctx context.Context, key string, r io.Reader) error
	Delete(ctx context.Context, key string) error
}

// FileOpener is implemented by stores whose objects are local files; the
// server then answers with sendfile and serves ranges by seeking.
type FileOpener interface {
	OpenFile(key string) (*os.File, Info, error)
}

// FileAdopter is implemented by stores that can take a finished temp file by
// rename instead of copying it (the temp file must live on the same
// filesystem, under TempDir). Adopt is atomic and durable: it syncs the
// open tmp itself, which the caller closes afterwards. On error the temp
// file is removed.
type FileAdopter interface {
	TempDir() string
	Adopt(tmp *os.File, key string) error
}

// Lister is implemented by stores that can list their objects; reindex
// walks the content-addressed objects with it.
type Lister interface {
	// List calls fn with every committed object whose key starts with
	// prefix, in no particular order.
	List(ctx context.Context, prefix string, fn func(key string, info Info) error) error
}

// SpaceReporter is implemented by stores on a local filesystem: eviction
// keeps [storage] min_free bytes free on it.
type SpaceReporter interface {
	Space() (free, total int64, err error)
}

// Presigner is implemented by stores that can hand out a short-lived URL
// from which a client reads an object directly ([storage.s3] redirect).
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// ErrChanged is PutIf's answer when the object is no longer at the version
// that was read: another writer (maybe another instance) came first.
var ErrChanged = fault.New(fault.Conflict, "object changed since it was read")

// Swapper is implemented by stores that replace an object only if nobody
// wrote it since it was read (compare and swap): nora instances that share
// a bucket update hosted state without losing each other's writes.
// hosted.Update is the read-modify-write loop on it.
type Swapper interface {
	// ReadVersion reads the whole object, at most max bytes (more is an
	// error), and a token that changes with every write of it;
	// ErrNotFound if there is none.
	ReadVersion(ctx context.Context, key string, max int64) ([]byte, string, error)
	// PutIf stores b under key if the object is still at version; version
	// "" means only if key holds nothing. ErrChanged otherwise.
	PutIf(ctx context.Context, key string, b []byte, version string) error
}
