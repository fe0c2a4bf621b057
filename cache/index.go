package cache

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var objectsBucket = []byte("objects")

// Index is the local index (bbolt) of every committed object's size and last
// access, kept for eviction and GC. Accesses are batched in memory and
// written every few seconds: a hit never waits for a disk write.
type Index struct {
	db  *bolt.DB
	log *slog.Logger

	mu      sync.Mutex
	touched map[string]int64 // key -> unix seconds of last access

	stop chan struct{}
	done chan struct{}
}

// Entry is one object's record.
type Entry struct {
	Size       int64
	LastAccess time.Time
}

// OpenIndex opens (or creates) the index file and starts its flusher.
func OpenIndex(path string, log *slog.Logger) (*Index, error) {
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cannot open index %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(objectsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot init index %s: %w", path, err)
	}
	ix := &Index{db: db, log: log, touched: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go ix.flushLoop(5 * time.Second)
	return ix, nil
}

func encodeEntry(size, access int64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(access))
	return b
}

// Added records a newly committed object.
func (ix *Index) Added(key string, size int64) {
	err := ix.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(objectsBucket).Put([]byte(key), encodeEntry(size, time.Now().Unix()))
	})
	if err != nil {
		ix.log.Error("cannot record object in index", "key", key, "err", err)
	}
}

// Removed forgets an object.
func (ix *Index) Removed(key string) {
	err := ix.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(objectsBucket).Delete([]byte(key)) })
	if err != nil {
		ix.log.Error("cannot remove object from index", "key", key, "err", err)
	}
}

// Touch notes an access; it is written at the next flush.
func (ix *Index) Touch(key string) {
	ix.mu.Lock()
	ix.touched[key] = time.Now().Unix()
	ix.mu.Unlock()
}

// Get returns the record of key.
func (ix *Index) Get(key string) (Entry, bool) {
	var e Entry
	var ok bool
	ix.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(objectsBucket).Get([]byte(key)); len(v) == 16 {
			e = Entry{Size: int64(binary.BigEndian.Uint64(v)), LastAccess: time.Unix(int64(binary.BigEndian.Uint64(v[8:])), 0)}
			ok = true
		}
		return nil
	})
	ix.mu.Lock()
	if t, pending := ix.touched[key]; pending && ok {
		e.LastAccess = time.Unix(t, 0)
	}
	ix.mu.Unlock()
	return e, ok
}

// Flush writes pending accesses.
func (ix *Index) Flush() error {
	ix.mu.Lock()
	touched := ix.touched
	ix.touched = map[string]int64{}
	ix.mu.Unlock()
	if len(touched) == 0 {
		return nil
	}
	return ix.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		for k, t := range touched {
			v := b.Get([]byte(k))
			if len(v) != 16 {
				continue // not an indexed object (refs are not)
			}
			if err := b.Put([]byte(k), encodeEntry(int64(binary.BigEndian.Uint64(v)), t)); err != nil {
				return err
			}
		}
		return nil
	})
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
