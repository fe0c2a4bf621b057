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
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"nora/cache"
)

// checkTimeout bounds one look at the stored set; the check serves
// requests that are waiting for it.
const checkTimeout = 30 * time.Second

// Names is a set of hosted names kept in memory and stored as one JSON
// object in a cache.Store. Several nora instances may share the store, so
// the memory is a cache that reads through: a name that is not in memory
// (Has) and every List first check whether the stored object changed (one
// read of it on a store that versions its objects, else a Stat) and reload
// it if it did. Concurrent checks share one look at the store. A name in
// memory is answered from memory: a name removed by another instance stays
// hosted here until this one reloads the set (hosted names are rarely
// removed, and failing closed keeps them off the upstream). Add and Remove
// rewrite the stored object with cache.Update, so writers on different
// instances never drop each other's names.
type Names struct {
	log    *slog.Logger // where a failed check is reported (SetLog)
	store  cache.Store
	key    string
	field  string
	max    int64
	legacy func([]byte) ([]string, error)
	life   context.Context // checks run in it, not in one caller's request

	checks  singleflight.Group
	writeMu sync.Mutex // serialises this instance's writers, so Update rarely retries
	pendMu  sync.Mutex
	pending []*nameChange // changes asked, for the next writer to store
	mu      sync.RWMutex
	set     map[string]struct{}
	ver     string // version of the stored object set was read from; "" unknown
	gen     uint64 // counts changes of set, so a slow reload never undoes a newer one
}

// LoadNames reads the set stored under key, at most max bytes; none
// stored is an empty set. With field "" the object is a JSON array of the
// names, else an object holding that array under field
// ({"projects":[...]}). Later checks of the stored object run in ctx,
// which should live as long as the set is used (the server's lifetime).
func LoadNames(ctx context.Context, store cache.Store, key, field string, max int64) (*Names, error) {
	return LoadNamesOr(ctx, store, key, field, max, nil)
}

// LoadNamesOr is LoadNames for a set that an older nora stored in another
// shape: an object that does not start as JSON ('[' or '{') is decoded by
// legacy instead, and the first Add or Remove stores the set as JSON. With
// legacy nil every object must be JSON.
func LoadNamesOr(ctx context.Context, store cache.Store, key, field string, max int64, legacy func([]byte) ([]string, error)) (*Names, error) {
	n := &Names{log: slog.New(slog.DiscardHandler), store: store, key: key, field: field, max: max, legacy: legacy,
		life: ctx, set: map[string]struct{}{}}
	if err := n.reload(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// Has reports whether name is in the set; a name not in memory is looked
// for in the stored set first.
func (n *Names) Has(name string) bool {
	if n.hasLocal(name) {
		return true
	}
	n.check()
	return n.hasLocal(name)
}

func (n *Names) hasLocal(name string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.set[name]
	return ok
}

// Sync reloads the set if the stored object changed (concurrent calls
// share one look) and returns the generation of the set in memory, which
// moves with every change of it: a registry that derives a cache from the
// names rebuilds it when the generation moved.
func (n *Names) Sync() uint64 {
	n.check()
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.gen
}

// List returns the names of the stored set, sorted.
func (n *Names) List() []string {
	n.check()
	return n.list()
}

func (n *Names) list() []string {
	n.mu.RLock()
	list := make([]string, 0, len(n.set))
	for name := range n.set {
		list = append(list, name)
	}
	n.mu.RUnlock()
	slices.Sort(list)
	return list
}

// SetLog makes n report to log the checks that fail; call it before n is
// shared.
func (n *Names) SetLog(log *slog.Logger) {
	if log != nil {
		n.log = log
	}
}

// check reloads the set if the stored object changed; concurrent callers
// share one check. A store that does not answer leaves the set as it is:
// the error is logged, and the names known stay hosted.
func (n *Names) check() {
	n.checks.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(n.life, checkTimeout)
		defer cancel()
		if err := n.reload(ctx); err != nil {
			n.log.Warn("cannot check the hosted names", "key", n.key, "err", err)
		}
		return nil, nil
	})
}

// reload reads the stored object and, if its version is not the one in
// memory, replaces the set with it.
func (n *Names) reload(ctx context.Context) error {
	n.mu.RLock()
	gen, have := n.gen, n.ver
	n.mu.RUnlock()
	b, ver, err := cache.ReadIfChanged(ctx, n.store, n.key, n.max, have)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		b, ver = nil, "none"
	case err != nil:
		return fmt.Errorf("cannot read %s: %w", n.key, err)
	case ver == have:
		return nil
	}
	list, err := n.decode(b)
	if err != nil {
		return err
	}
	set := make(map[string]struct{}, len(list))
	for _, name := range list {
		set[name] = struct{}{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen == gen {
		n.set, n.ver = set, ver
		n.gen++
	}
	return nil
}

// decode parses a stored set; nil is the empty set.
func (n *Names) decode(b []byte) ([]string, error) {
	if b == nil {
		return nil, nil
	}
	var list []string
	var err error
	switch t := bytes.TrimSpace(b); {
	case n.legacy != nil && (len(t) == 0 || t[0] != '[' && t[0] != '{'):
		list, err = n.legacy(b)
	case n.field == "":
		err = json.Unmarshal(b, &list)
	default:
		var doc map[string]json.RawMessage
		if err = json.Unmarshal(b, &doc); err == nil && doc[n.field] != nil {
			err = json.Unmarshal(doc[n.field], &list)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", n.key, err)
	}
	return list, nil
}

// Add stores the set with name in it, merged with what other writers
// stored, then takes the stored set into memory; a name already in
// memory costs nothing.
func (n *Names) Add(ctx context.Context, name string) error {
	if n.hasLocal(name) {
		return nil
	}
	return n.write(ctx, name, true)
}

// Remove stores the set without name, merged with what other writers
// stored, then takes the stored set into memory.
func (n *Names) Remove(ctx context.Context, name string) error {
	return n.write(ctx, name, false)
}

// write adds name to, or removes it from, the stored set with
// cache.Update, then installs the set it stored. The changes asked while
// another write runs are stored together by the next one: each rewrites
// the whole set, so a site whose CI pushes to many new repositories at
// once waits for one rewrite, not for one per name.
func (n *Names) write(ctx context.Context, name string, add bool) error {
	ch := &nameChange{name: name, add: add, done: make(chan error, 1)}
	n.pendMu.Lock()
	n.pending = append(n.pending, ch)
	n.pendMu.Unlock()
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	select {
	case err := <-ch.done: // the write before ours stored it
		return err
	default:
	}
	n.pendMu.Lock()
	batch := n.pending
	n.pending = nil
	n.pendMu.Unlock()
	// The batch is several callers' changes: one caller going away does
	// not abandon the others'.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	err := n.apply(ctx, batch)
	for _, c := range batch {
		c.done <- err
	}
	return <-ch.done
}

// A nameChange is one caller's Add or Remove, waiting to be stored.
type nameChange struct {
	name string
	add  bool
	done chan error
}

// apply stores the changes in the order they were asked and installs the
// set it stored.
func (n *Names) apply(ctx context.Context, changes []*nameChange) error {
	var list []string
	err := Update(ctx, n.store, n.key, n.max, func(old []byte) ([]byte, error) {
		var err error
		if list, err = n.decode(old); err != nil {
			return nil, err
		}
		slices.Sort(list)
		changed := false
		for _, c := range changes {
			i, found := slices.BinarySearch(list, c.name)
			switch {
			case c.add == found: // already so
			case c.add:
				list, changed = slices.Insert(list, i, c.name), true
			default:
				list, changed = slices.Delete(list, i, i+1), true
			}
		}
		if !changed {
			return nil, nil // nothing to write
		}
		return n.encode(list)
	})
	if err != nil {
		return fmt.Errorf("cannot store %s: %w", n.key, err)
	}
	set := make(map[string]struct{}, len(list))
	for _, s := range list {
		set[s] = struct{}{}
	}
	n.mu.Lock()
	n.set, n.ver = set, "" // the stored version is unknown: the next check reads it
	n.gen++
	n.mu.Unlock()
	return nil
}

func (n *Names) encode(list []string) ([]byte, error) {
	if list == nil {
		list = []string{}
	}
	var v any = list
	if n.field != "" {
		v = map[string][]string{n.field: list}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %s: %w", n.key, err)
	}
	return b, nil
}

// Read is cache.ReadAll: every hosted state object is read whole, at
// most max bytes. It runs in StoreContext(ctx).
func Read(ctx context.Context, store cache.Store, key string, max int64) ([]byte, error) {
	ctx, cancel := StoreContext(ctx)
	defer cancel()
	return cache.ReadAll(ctx, store, key, max)
}

// Update is cache.Update in StoreContext(ctx).
func Update(ctx context.Context, store cache.Store, key string, max int64, fn func(old []byte) ([]byte, error)) error {
	ctx, cancel := StoreContext(ctx)
	defer cancel()
	return cache.Update(ctx, store, key, max, fn)
}

// StoreContext is ctx for store calls made on a request's behalf: a
// child cancelled when they are done. The HTTP client of an S3 store may
// look up its call's context after the call returned; the child answers
// that look-up, so it never reaches a server's request context that is
// being reused for the next request.
func StoreContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
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
