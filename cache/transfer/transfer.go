// Package transfer copies everything a nora needs from one storage to
// another: the store's objects and the local state files of the storage
// path. Migrate copies store to store (disk, S3, any pair); Backup writes
// the same set as one tar stream and Restore reads it back. Every copy is
// streamed and verified: a content-addressed object only if its bytes hash
// to its name, any other object and file against the sha256 taken on the
// way.
//
// None of it may run while a nora serves either side (Offline): the server
// holds the storage path's index exclusively and writes the store.
package transfer

import (
	"encoding/hex"
	"strings"

	"nora/cache"
)

// Side is one storage: its store and its storage path (the [storage] path
// of its config), where the local state files live.
type Side struct {
	Store cache.Store
	Path  string
}

// Action is what happened to one object or file.
type Action string

const (
	Copied    Action = "copied"
	Skipped   Action = "skipped" // the destination already holds it intact
	Failed    Action = "failed"
	WouldCopy Action = "would copy" // dry run
)

// Event reports one object (Key) or local file (File) as it is done.
type Event struct {
	Key    string `json:"key,omitempty"`
	File   string `json:"file,omitempty"`
	Size   int64  `json:"size"`
	Action Action `json:"action"`
	Err    string `json:"error,omitempty"`
}

// Report counts what a run did. Bytes are the sizes of the objects and
// files in each count.
type Report struct {
	Copied       int64   `json:"copied"`
	CopiedBytes  int64   `json:"copied_bytes"`
	Skipped      int64   `json:"skipped"`
	SkippedBytes int64   `json:"skipped_bytes"`
	Failed       int64   `json:"failed"`
	FailedBytes  int64   `json:"failed_bytes"`
	WouldCopy    int64   `json:"would_copy,omitempty"`
	WouldBytes   int64   `json:"would_copy_bytes,omitempty"`
	Failures     []Event `json:"failures,omitempty"`
}

// maxFailures bounds the failures a Report lists; Failed counts them all.
const maxFailures = 100

func (r *Report) add(e Event) {
	switch e.Action {
	case Copied:
		r.Copied++
		r.CopiedBytes += e.Size
	case Skipped:
		r.Skipped++
		r.SkippedBytes += e.Size
	case WouldCopy:
		r.WouldCopy++
		r.WouldBytes += e.Size
	case Failed:
		r.Failed++
		r.FailedBytes += e.Size
		if len(r.Failures) < maxFailures {
			r.Failures = append(r.Failures, e)
		}
	}
}

// blobDigest returns the hex sha256 a content-addressed key names
// (blobs/sha256/<2>/<hex>), or "" for any other key.
func blobDigest(key string) string {
	rest, ok := strings.CutPrefix(key, "blobs/sha256/")
	if !ok || len(rest) != 2+1+64 || rest[2] != '/' {
		return ""
	}
	hx := rest[3:]
	if _, err := hex.DecodeString(hx); err != nil || strings.ToLower(hx) != hx || hx[:2] != rest[:2] {
		return ""
	}
	return hx
}

// instanceState reports whether key belongs to the running instances of a
// shared store (the maintenance lease, claim marks), which a copy must not
// carry to another store: a restored lease would name a holder that is gone.
func instanceState(key string) bool { return strings.HasPrefix(key, cache.LeasePrefix) }
