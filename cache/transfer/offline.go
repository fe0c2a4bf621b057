package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"nora/internal/fault"
)

// ErrServing is wrapped by Offline's error when a nora serves on the path.
var ErrServing = fault.New(fault.Conflict, "a nora server is running on this storage")

// lockWait is how long Offline waits for the index lock: a server holds
// it for as long as it runs, so a short wait tells.
const lockWait = 500 * time.Millisecond

// Offline checks that no nora serves on the storage path: a server holds
// its index (a bbolt file) exclusively for as long as it runs. It takes a
// shared lock on the index, without creating one, and keeps it until
// release, so that a server starting meanwhile stops at its own check.
// With no index there is nothing to hold.
func Offline(path string) (release func(), err error) {
	file := filepath.Join(path, indexFile)
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	db, err := bolt.Open(file, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("storage path %s: %w (it holds %s): stop the server first", path, ErrServing, file)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot tell whether a nora serves on %s: %w", path, err)
	case err != nil:
		// A damaged index locks nothing; the next start moves it aside.
		return func() {}, nil
	}
	return func() { db.Close() }, nil
}
