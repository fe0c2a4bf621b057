package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// updateTries bounds the read-modify-write loop of Update under contention.
const updateTries = 20

// Update rewrites the state object under key (at most max bytes) with fn:
// fn gets the current bytes (nil if there is no object) and returns the
// new ones; nil with no error leaves the object as it is. On a store that
// is a Swapper the write succeeds only if nobody wrote key in
// between, and Update reads and calls fn again until it does: instances
// sharing a bucket never lose each other's writes. fn may run several
// times and must not have side effects. Callers still serialise their own
// writers of one key (Locks), so retries are rare.
func Update(ctx context.Context, store Store, key string, max int64, fn func(old []byte) ([]byte, error)) error {
	sw, ok := store.(Swapper)
	if !ok {
		old, err := ReadAll(ctx, store, key, max)
		if err != nil && !errors.Is(err, ErrNotFound) {
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
		if errors.Is(err, ErrNotFound) {
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
		if !errors.Is(err, ErrChanged) {
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

// ReadAll returns the object under key, refusing more than max bytes: a
// state object is read whole, and a bound keeps a damaged or hostile one
// from exhausting memory. The store's own errors, such as ErrNotFound,
// come back as they are.
func ReadAll(ctx context.Context, store Store, key string, max int64) ([]byte, error) {
	body, _, err := store.Get(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", key, max)
	}
	return b, nil
}

// Versioner is implemented by stores that tell an object's version (the
// one ReadVersion gives) without reading it: a stat of a local file.
type Versioner interface {
	Version(ctx context.Context, key string) (string, error)
}

// ReadIfChanged returns the object under key (at most max bytes) and its
// version; the bytes may be nil when the version is still have: a copy kept
// in memory is refreshed only when another writer (maybe another instance)
// changed the object. A Versioner answers by a stat, another Swapper by a
// read (an S3 time has whole seconds only: two writes within one would
// look the same); a store that is neither gives size and time.
func ReadIfChanged(ctx context.Context, store Store, key string, max int64, have string) ([]byte, string, error) {
	if v, ok := store.(Versioner); ok {
		ver, err := v.Version(ctx, key)
		if err != nil || ver == have {
			return nil, ver, err
		}
	}
	if sw, ok := store.(Swapper); ok {
		return sw.ReadVersion(ctx, key, max)
	}
	info, err := store.Stat(ctx, key)
	if err != nil {
		return nil, "", err
	}
	ver := strconv.FormatInt(info.Size, 36) + "-" + strconv.FormatInt(info.ModTime.UnixNano(), 36)
	if ver == have {
		return nil, ver, nil
	}
	b, err := ReadAll(ctx, store, key, max)
	return b, ver, err
}
