// Package hosted holds what nora's hosted registries share: the set of
// names each one hosts, and per-name locks for read-modify-write of one
// name's state.
package hosted

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"nora/cache"
)

// Names is a set of hosted names kept in memory and stored as one JSON
// object in a cache.Store, rewritten whole (Store.Put is atomic) on every
// change. Reads answer from memory: a registry asks Has on every request.
type Names struct {
	store cache.Store
	key   string
	field string

	writeMu sync.Mutex // serialises Add and Remove; readers never wait on the store
	mu      sync.RWMutex
	set     map[string]struct{}
}

// LoadNames reads the set stored under key, at most max bytes; none
// stored is an empty set. With field "" the object is a JSON array of the
// names, else an object holding that array under field
// ({"projects":[...]}).
func LoadNames(ctx context.Context, store cache.Store, key, field string, max int64) (*Names, error) {
	return LoadNamesOr(ctx, store, key, field, max, nil)
}

// LoadNamesOr is LoadNames for a set that an older nora stored in another
// shape: an object that does not start as JSON ('[' or '{') is decoded by
// legacy instead, and the first Add or Remove stores the set as JSON. With
// legacy nil every object must be JSON.
func LoadNamesOr(ctx context.Context, store cache.Store, key, field string, max int64, legacy func([]byte) ([]string, error)) (*Names, error) {
	n := &Names{store: store, key: key, field: field, set: map[string]struct{}{}}
	b, err := Read(ctx, store, key, max)
	if errors.Is(err, cache.ErrNotFound) {
		return n, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", key, err)
	}
	var list []string
	switch t := bytes.TrimSpace(b); {
	case legacy != nil && (len(t) == 0 || t[0] != '[' && t[0] != '{'):
		list, err = legacy(b)
	case field == "":
		err = json.Unmarshal(b, &list)
	default:
		var doc map[string]json.RawMessage
		if err = json.Unmarshal(b, &doc); err == nil && doc[field] != nil {
			err = json.Unmarshal(doc[field], &list)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", key, err)
	}
	for _, name := range list {
		n.set[name] = struct{}{}
	}
	return n, nil
}

// Has reports whether name is in the set.
func (n *Names) Has(name string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.set[name]
	return ok
}

// List returns the names, sorted.
func (n *Names) List() []string {
	n.mu.RLock()
	list := make([]string, 0, len(n.set))
	for name := range n.set {
		list = append(list, name)
	}
	n.mu.RUnlock()
	slices.Sort(list)
	return list
}

// Add stores the set with name in it, then adds it in memory; a name
// already in the set costs nothing.
func (n *Names) Add(ctx context.Context, name string) error {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	if n.Has(name) {
		return nil
	}
	return n.write(ctx, name, true)
}

// Remove stores the set without name, then drops it from memory.
func (n *Names) Remove(ctx context.Context, name string) error {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	if !n.Has(name) {
		return nil
	}
	return n.write(ctx, name, false)
}

// write stores the set with name added or removed; the caller holds
// writeMu, so the set cannot change in between.
func (n *Names) write(ctx context.Context, name string, add bool) error {
	list := slices.DeleteFunc(n.List(), func(s string) bool { return s == name })
	if add {
		list = append(list, name)
		slices.Sort(list)
	}
	var v any = list
	if n.field != "" {
		v = map[string][]string{n.field: list}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", n.key, err)
	}
	if err := n.store.Put(ctx, n.key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot store %s: %w", n.key, err)
	}
	n.mu.Lock()
	if add {
		n.set[name] = struct{}{}
	} else {
		delete(n.set, name)
	}
	n.mu.Unlock()
	return nil
}

// Read is cache.ReadAll: every hosted state object is read whole, at
// most max bytes.
func Read(ctx context.Context, store cache.Store, key string, max int64) ([]byte, error) {
	return cache.ReadAll(ctx, store, key, max)
}

// Locks serialise the writers of one name: a fixed array of mutexes picked
// by a hash of the name, so it never grows; names that share a stripe wait
// for each other, which is rare and harmless. The zero value is ready.
type Locks struct {
	m [64]sync.Mutex
}

// Lock locks name's stripe and returns its unlock.
func (l *Locks) Lock(name string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(name))
	m := &l.m[h.Sum32()%uint32(len(l.m))]
	m.Lock()
	return m.Unlock
}
