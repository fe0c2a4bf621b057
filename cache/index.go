package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var objectsBucket = []byte("objects")

// Index is the local index (bbolt) of every committed object's size, last
// access, commit time and kind (hosted or proxied), kept for eviction and
// GC. Accesses are batched in memory and written every few seconds: a hit
// never waits for a disk write. It keeps the bytes of each kind in memory,
// so usage is known without a scan.
type Index struct {
	db  *bolt.DB
	log *slog.Logger

	mu      sync.Mutex
	touched map[string]int64    // key -> unix nanos of last access
	hosted  map[string]struct{} // keys turned hosted, not yet written

	proxiedBytes, hostedBytes, objects atomic.Int64

	adds indexAdds // group commit of Added (index_added.go)

	stop chan struct{}
	done chan struct{}
}

// Entry is one object's record.
type Entry struct {
	Size       int64
	LastAccess time.Time
	// Added is when the object was committed; GC's grace counts from it.
	Added time.Time
	// Hosted objects were pushed or published here (or are referred to by
	// what was): never evicted, only collected by GC.
	Hosted bool
}

// An entry is size, last access and commit time (unix nanos) and flags.
// Entries written before kinds existed are 16 bytes, their access in unix
// seconds: proxied, committed at their last access.
const (
	entryLen    = 25
	legacyLen   = 16
	flagHosted  = 1
	indexSuffix = ".damaged"
)

func encodeEntry(e Entry) []byte {
	b := make([]byte, entryLen)
	binary.BigEndian.PutUint64(b, uint64(e.Size))
	binary.BigEndian.PutUint64(b[8:], uint64(e.LastAccess.UnixNano()))
	binary.BigEndian.PutUint64(b[16:], uint64(e.Added.UnixNano()))
	if e.Hosted {
		b[24] = flagHosted
	}
	return b
}

func decodeEntry(v []byte) (Entry, bool) {
	if len(v) != entryLen && len(v) != legacyLen {
		return Entry{}, false
	}
	e := Entry{Size: int64(binary.BigEndian.Uint64(v))}
	if len(v) == legacyLen {
		e.LastAccess = time.Unix(int64(binary.BigEndian.Uint64(v[8:16])), 0)
		e.Added = e.LastAccess
		return e, true
	}
	e.LastAccess = time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16])))
	e.Added = time.Unix(0, int64(binary.BigEndian.Uint64(v[16:24])))
	e.Hosted = v[24]&flagHosted != 0
	return e, true
}

// OpenIndex opens (or creates) the index file and starts its flusher. It
// reports fresh when the index was not there or was damaged (moved aside
// to <path>.damaged): the caller then rebuilds it from the store. An index
// held by another process is an error: only one nora may use a store.
func OpenIndex(path string, log *slog.Logger) (ix *Index, fresh bool, err error) {
	_, statErr := os.Stat(path)
	fresh = errors.Is(statErr, fs.ErrNotExist)
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, false, fmt.Errorf("cannot open index %s: another process holds it (is nora already running on this storage path?)", path)
	}
	if err != nil && !fresh {
		log.Error("index is damaged; moving it aside and rebuilding it from the store", "path", path, "err", err)
		if rerr := os.Rename(path, path+indexSuffix); rerr != nil {
			return nil, false, fmt.Errorf("cannot move damaged index %s aside: %w", path, rerr)
		}
		fresh = true
		db, err = bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot open index %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(objectsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, false, fmt.Errorf("cannot init index %s: %w", path, err)
	}
	ix = &Index{db: db, log: log, touched: map[string]int64{}, hosted: map[string]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := ix.recount(); err != nil {
		db.Close()
		return nil, false, fmt.Errorf("cannot read index %s: %w", path, err)
	}
	go ix.flushLoop(5 * time.Second)
	return ix, fresh, nil
}

// recount sums the entries' sizes by kind.
func (ix *Index) recount() error {
	var proxied, hosted, n int64
	err := ix.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(objectsBucket).ForEach(func(_, v []byte) error {
			if e, ok := decodeEntry(v); ok {
				n++
				if e.Hosted {
					hosted += e.Size
				} else {
					proxied += e.Size
				}
			}
			return nil
		})
	})
	if err == nil {
		ix.proxiedBytes.Store(proxied)
		ix.hostedBytes.Store(hosted)
		ix.objects.Store(n)
	}
	return err
}

// account moves the usage counters from old (if any) to new (if any).
func (ix *Index) account(old *Entry, new *Entry) {
	if old != nil {
		ix.objects.Add(-1)
		if old.Hosted {
			ix.hostedBytes.Add(-old.Size)
		} else {
			ix.proxiedBytes.Add(-old.Size)
		}
	}
	if new != nil {
		ix.objects.Add(1)
		if new.Hosted {
			ix.hostedBytes.Add(new.Size)
		} else {
			ix.proxiedBytes.Add(new.Size)
		}
	}
}

// Usage returns the bytes of proxied and of hosted objects, and their count.
func (ix *Index) Usage() (proxied, hosted, objects int64) {
	return ix.proxiedBytes.Load(), ix.hostedBytes.Load(), ix.objects.Load()
}

// Added records a newly committed object; an object already recorded
// keeps its hosted kind.
func (ix *Index) Added(key string, size int64, hosted bool) {
	ix.record(key, newEntry(size, hosted))
}

// AddedRead is Added for a proxied object last read at read, before its
// commit (a fill's readers): eviction takes the least recently read first,
// not the last committed.
func (ix *Index) AddedRead(key string, size int64, read time.Time) {
	e := newEntry(size, false)
	if !read.IsZero() && read.Before(e.LastAccess) {
		e.LastAccess = read
	}
	ix.record(key, e)
}

func (ix *Index) record(key string, e Entry) {
	old, err := ix.add(key, e)
	if err != nil {
		ix.log.Error("cannot record object in index", "key", key, "err", err)
		return
	}
	if old != nil && old.Hosted {
		e.Hosted = true
	}
	ix.account(old, &e)
}

// MarkHosted makes a recorded object hosted (never evicted). It is written
// at the next flush; Get and the eviction see it at once.
func (ix *Index) MarkHosted(key string) {
	ix.mu.Lock()
	ix.hosted[key] = struct{}{}
	ix.mu.Unlock()
}

// removeIf forgets the objects of keys whose entry keep does not claim
// (keep nil: all of them), in one transaction. It returns the bytes
// forgotten.
func (ix *Index) removeIf(keys []string, keep func(key string, e Entry) bool) int64 {
	var gone []Entry
	err := ix.db.Update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		b := tx.Bucket(objectsBucket)
		for _, k := range keys {
			e, ok := decodeEntry(b.Get([]byte(k)))
			if !ok || (keep != nil && keep(k, e)) {
				continue
			}
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			gone = append(gone, e)
		}
		return nil
	})
	if err != nil {
		ix.log.Error("cannot remove objects from index", "keys", len(keys), "err", err)
		return 0
	}
	var bytes int64
	for i := range gone {
		ix.account(&gone[i], nil)
		bytes += gone[i].Size
	}
	ix.mu.Lock()
	for _, k := range keys {
		delete(ix.hosted, k)
	}
	ix.mu.Unlock()
	return bytes
}

// Touch notes an access; it is written at the next flush.
func (ix *Index) Touch(key string) {
	ix.mu.Lock()
	ix.touched[key] = time.Now().UnixNano()
	ix.mu.Unlock()
}

// Get returns the record of key, with the accesses and kind changes not
// yet written.
func (ix *Index) Get(key string) (Entry, bool) {
	var e Entry
	var ok bool
	ix.db.View(func(tx *bolt.Tx) error {
		e, ok = decodeEntry(tx.Bucket(objectsBucket).Get([]byte(key)))
		return nil
	})
	if !ok {
		return e, false
	}
	ix.mu.Lock()
	if t, pending := ix.touched[key]; pending && time.Unix(0, t).After(e.LastAccess) {
		e.LastAccess = time.Unix(0, t)
	}
	if _, pending := ix.hosted[key]; pending {
		e.Hosted = true
	}
	ix.mu.Unlock()
	return e, true
}

// Flush writes pending accesses and kind changes.
func (ix *Index) Flush() error {
	ix.mu.Lock()
	touched, hosted := ix.touched, ix.hosted
	ix.touched, ix.hosted = map[string]int64{}, map[string]struct{}{}
	ix.mu.Unlock()
	if len(touched) == 0 && len(hosted) == 0 {
		return nil
	}
	type change struct{ old, new Entry }
	var moved []change
	err := ix.db.Update(func(tx *bolt.Tx) error {
		moved = moved[:0]
		b := tx.Bucket(objectsBucket)
		update := func(k string, fn func(*Entry)) error {
			e, ok := decodeEntry(b.Get([]byte(k)))
			if !ok {
				return nil // not an indexed object (refs are not), or gone
			}
			old := e
			fn(&e)
			if old.Hosted != e.Hosted {
				moved = append(moved, change{old, e})
			}
			return b.Put([]byte(k), encodeEntry(e))
		}
		for k, t := range touched {
			if err := update(k, func(e *Entry) {
				// A read between a commit's rename and its index entry
				// is older than the entry: an access never goes back.
				if at := time.Unix(0, t); at.After(e.LastAccess) {
					e.LastAccess = at
				}
				if _, ok := hosted[k]; ok {
					e.Hosted = true
				}
			}); err != nil {
				return err
			}
		}
		for k := range hosted {
			if _, done := touched[k]; done {
				continue
			}
			if err := update(k, func(e *Entry) { e.Hosted = true }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range moved {
		ix.account(&moved[i].old, &moved[i].new)
	}
	return nil
}

// scan calls fn with the entries from the first key after after, at most
// n of them, in key order, and returns the last key seen ("" at the end).
// It holds a read transaction only for the chunk, so callers may write
// between chunks.
func (ix *Index) scan(after string, n int, fn func(key string, e Entry)) (last string, err error) {
	err = ix.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(objectsBucket).Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else {
			k, v = c.Seek([]byte(after))
			if k != nil && bytes.Equal(k, []byte(after)) {
				k, v = c.Next()
			}
		}
		for i := 0; k != nil && i < n; k, v = c.Next() {
			e, ok := decodeEntry(v)
			if !ok {
				continue
			}
			i++
			last = string(k)
			fn(last, e)
		}
		return nil
	})
	return last, err
}

func (ix *Index) flushLoop(every time.Duration) {
	defer close(ix.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := ix.Flush(); err != nil {
				ix.log.Error("cannot flush index", "err", err)
			}
		case <-ix.stop:
			return
		}
	}
}

// Close flushes and closes the index.
func (ix *Index) Close() error {
	close(ix.stop)
	<-ix.done
	err := ix.Flush()
	if cerr := ix.db.Close(); err == nil {
		err = cerr
	}
	return err
}
