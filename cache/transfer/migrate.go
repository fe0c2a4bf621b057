package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"nora/cache"
)

// Options tune Migrate.
type Options struct {
	// DryRun reports what would be copied (WouldCopy) and changes nothing.
	DryRun bool
	// Workers copy objects side by side (default 4): on S3 a round trip
	// per small object dominates.
	Workers int
	// Listed, if set, is called with each object and local file found, so
	// that a progress total can grow as the listing goes.
	Listed func(size int64)
	// Progress, if set, is called once per object and local file when it
	// is done, never concurrently.
	Progress func(Event)
}

// Migrate copies every object of from's store that to's store lacks or
// holds differently, then the local state files (LocalFiles) when the two
// storage paths differ. What to already holds intact is skipped: a
// content-addressed object of the same size, any other object or file of
// the same size and sha256; so a run that was interrupted finishes on the
// next. Objects that cannot be copied are counted as failed and the run
// goes on; the error is for what stops the whole run (listing, ctx).
// Unless it is a dry run, to's index file is removed at the end: the next
// nora on it rebuilds the index from the store.
func Migrate(ctx context.Context, from, to Side, o Options) (Report, error) {
	lister, ok := from.Store.(cache.Lister)
	if !ok {
		return Report{}, errors.New("the source store cannot list its objects")
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	var (
		mu  sync.Mutex
		rep Report
	)
	done := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		rep.add(e)
		if o.Progress != nil {
			o.Progress(e)
		}
	}
	if !o.DryRun {
		defer removeIndex(to.Path)
	}
	err := eachObject(ctx, lister, o, func(key string, info cache.Info) {
		done(copyObject(ctx, from.Store, to.Store, key, info, o.DryRun))
	})
	if err != nil {
		return rep, err
	}
	if samePath(from.Path, to.Path) {
		return rep, nil
	}
	files, err := LocalFiles(from.Path, to.Path)
	if err != nil {
		return rep, err
	}
	for _, f := range files {
		if o.Listed != nil {
			o.Listed(f.Size)
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		done(copyLocal(from.Path, to.Path, f, o.DryRun))
	}
	return rep, nil
}

// eachObject lists every object and hands it to fn on o.Workers
// goroutines; it returns when all are done.
func eachObject(ctx context.Context, l cache.Lister, o Options, fn func(key string, info cache.Info)) error {
	type item struct {
		key  string
		info cache.Info
	}
	items := make(chan item)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for it := range items {
				fn(it.key, it.info)
			}
		})
	}
	err := l.List(ctx, "", func(key string, info cache.Info) error {
		if instanceState(key) {
			return nil
		}
		if o.Listed != nil {
			o.Listed(info.Size)
		}
		select {
		case items <- item{key, info}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(items)
	wg.Wait()
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("cannot list the source store: %w", err)
	}
	return nil
}

// copyObject copies one object unless the destination holds it intact.
func copyObject(ctx context.Context, from, to cache.Store, key string, info cache.Info, dry bool) Event {
	e := Event{Key: key, Size: info.Size}
	fail := func(err error) Event {
		e.Action, e.Err = Failed, err.Error()
		return e
	}
	want := blobDigest(key)
	ok, err := intact(ctx, from, to, key, info, want)
	switch {
	case err != nil:
		return fail(err)
	case ok:
		e.Action = Skipped
		return e
	case dry:
		e.Action = WouldCopy
		return e
	}
	if err := copyOne(ctx, from, to, key, info, want); err != nil {
		return fail(err)
	}
	e.Action = Copied
	return e
}

// intact tells whether to already holds key as from does.
func intact(ctx context.Context, from, to cache.Store, key string, info cache.Info, want string) (bool, error) {
	di, err := to.Stat(ctx, key)
	if errors.Is(err, cache.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot stat the destination's %s: %w", key, err)
	}
	if di.Size != info.Size {
		return false, nil
	}
	if want != "" {
		return true, nil
	}
	dsum, _, err := hashObject(ctx, to, key)
	if err != nil {
		return false, fmt.Errorf("cannot read the destination's %s: %w", key, err)
	}
	ssum, _, err := hashObject(ctx, from, key)
	if err != nil {
		return false, fmt.Errorf("cannot read %s: %w", key, err)
	}
	return dsum == ssum, nil
}

// copyOne streams key from from to to. A content-addressed object is
// checked against its name before it is committed; any other is checked
// against a read-back afterwards and removed from to if that differs.
func copyOne(ctx context.Context, from, to cache.Store, key string, info cache.Info, want string) error {
	rc, _, err := from.Get(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", key, err)
	}
	defer rc.Close()
	sum, n, err := putVerified(ctx, to, key, rc, info.Size, want)
	if err != nil {
		return err
	}
	if want != "" {
		di, err := to.Stat(ctx, key)
		if err != nil {
			return fmt.Errorf("cannot stat %s after writing it: %w", key, err)
		}
		if di.Size != n {
			return fmt.Errorf("%s: the destination holds %d bytes after writing %d: %w", key, di.Size, n, ErrDamaged)
		}
		return nil
	}
	got, gotN, err := hashObject(ctx, to, key)
	if err != nil {
		return fmt.Errorf("cannot read %s back: %w", key, err)
	}
	if got != sum || gotN != n {
		_ = to.Delete(ctx, key)
		return fmt.Errorf("%s: the destination's copy reads back as sha256:%s (%d bytes), not sha256:%s (%d bytes): %w",
			key, got, gotN, sum, n, ErrDamaged)
	}
	return nil
}

// putVerified puts r under key, hashing it (and checking it against want
// and size) on the way; it returns the sum and size. A local file (a disk
// source) is hashed first and then handed over as the file itself, so that
// an S3 store uploads it in parts straight from it rather than from a
// spooled copy; offline, nothing changes it in between.
func putVerified(ctx context.Context, to cache.Store, key string, r io.Reader, size int64, want string) (string, int64, error) {
	hr := newHashReader(r, key, want, size)
	body := io.Reader(hr)
	if f, ok := r.(*os.File); ok {
		if _, err := io.Copy(io.Discard, hr); err != nil {
			return "", 0, fmt.Errorf("cannot read %s: %w", key, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", 0, err
		}
		body = f
	}
	if err := to.Put(ctx, key, body); err != nil {
		return "", 0, fmt.Errorf("cannot write %s: %w", key, err)
	}
	return hr.sum(), hr.n, nil
}

// removeIndex removes the index of the storage path: nora rebuilds a
// missing one from the store at start.
func removeIndex(path string) {
	if path != "" {
		_ = os.Remove(filepath.Join(path, indexFile))
	}
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
