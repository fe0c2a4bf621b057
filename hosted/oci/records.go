package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"nora/cache"
)

// Each record of hosted state is one small object, written whole with
// Put: no record is read, modified and written back, so two instances
// writing one repository never lose each other's records.

// getRecord decodes the JSON record under key into v; cache.ErrNotFound
// if there is none.
func (r *Registry) getRecord(ctx context.Context, key string, v any) error {
	b, err := cache.ReadAll(ctx, r.store, key, maxRecord)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cannot decode %s: %w", key, err)
	}
	return nil
}

// putRecord stores v as JSON under key.
func (r *Registry) putRecord(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.store.Put(ctx, key, bytes.NewReader(b))
}

// putNew stores b under key unless an object is there already; it
// reports whether it stored. One call on a Swapper.
func (r *Registry) putNew(ctx context.Context, key string, b []byte) (bool, error) {
	if sw, ok := r.store.(cache.Swapper); ok {
		err := sw.PutIf(ctx, key, b, "")
		if errors.Is(err, cache.ErrChanged) {
			return false, nil
		}
		return err == nil, err
	}
	if _, err := r.store.Stat(ctx, key); err == nil {
		return false, nil
	} else if !errors.Is(err, cache.ErrNotFound) {
		return false, err
	}
	return true, r.store.Put(ctx, key, bytes.NewReader(b))
}

// deleteRecord removes key; a record already gone is no error.
func (r *Registry) deleteRecord(ctx context.Context, key string) error {
	if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, cache.ErrNotFound) {
		return err
	}
	return nil
}

// listDir returns the sorted names of the records right under prefix (a
// directory: it ends with "/").
func (r *Registry) listDir(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := r.list.List(ctx, prefix, func(key string, _ cache.Info) error {
		if rest, ok := strings.CutPrefix(key, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", prefix, err)
	}
	slices.Sort(names)
	return names, nil
}

// readLink returns the link of blob elem in repository name.
func (r *Registry) readLink(ctx context.Context, name, elem string) ([]byte, error) {
	key, err := repoKey(name, blobsDir, elem)
	if err != nil {
		return nil, err
	}
	return cache.ReadAll(ctx, r.store, key, 64)
}

// forEachRecord decodes every record under dir of repository name into a
// new T and calls fn with its element; records removed while listing are
// skipped.
func forEachRecord[T any](ctx context.Context, r *Registry, name, dir string, fn func(elem string, v *T) error) error {
	prefix := repoDir(name, dir)
	elems, err := r.listDir(ctx, prefix)
	if err != nil {
		return err
	}
	for _, e := range elems {
		v := new(T)
		err := r.getRecord(ctx, prefix+e, v)
		if errors.Is(err, cache.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(e, v); err != nil {
			return err
		}
	}
	return nil
}
