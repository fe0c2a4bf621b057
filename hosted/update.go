package hosted

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"nora/cache"
)

// updateTries bounds the read-modify-write loop of Update under contention.
const updateTries = 20

// Update rewrites the state object under key (at most max bytes) with fn:
// fn gets the current bytes (nil if there is no object) and returns the
// new ones; nil with no error leaves the object as it is. On a store that
// is a cache.Swapper the write succeeds only if nobody wrote key in
// between, and Update reads and calls fn again until it does: instances
// sharing a bucket never lose each other's writes. fn may run several
// times and must not have side effects. Callers still serialise their own
// writers of one key (Locks), so retries are rare.
func Update(ctx context.Context, store cache.Store, key string, max int64, fn func(old []byte) ([]byte, error)) error {
	sw, ok := store.(cache.Swapper)
	if !ok {
		old, err := Read(ctx, store, key, max)
		if err != nil && !errors.Is(err, cache.ErrNotFound) {
			return err
		}
		b, err := fn(old)
		if err != nil || b == nil {
			return err
		}
		return store.Put(ctx, key, bytes.NewReader(b))
	}
	for try := 0; ; try++ {
		old, ver, err := sw.ReadVersion(ctx, key, max)
		if errors.Is(err, cache.ErrNotFound) {
			old, ver, err = nil, "", nil
		}
		if err != nil {
			return err
		}
		b, err := fn(old)
		if err != nil || b == nil {
			return err
		}
		err = sw.PutIf(ctx, key, b, ver)
		if !errors.Is(err, cache.ErrChanged) {
			return err
		}
		if try == updateTries {
			return fmt.Errorf("cannot update %s: %d writers came first: %w", key, updateTries, err)
		}
		// Jittered, growing back-off: the writers that collided spread out.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(1+rand.IntN(5<<min(try, 6))) * time.Millisecond):
		}
	}
}
