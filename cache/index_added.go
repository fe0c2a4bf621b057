package cache

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// indexAdds is the group commit of Index.Added: a new object's entry is
// written in one transaction with every other entry that arrives while
// the previous transaction commits. An idle index writes at once (bbolt's
// Batch would wait for its timer first); a busy one pays one commit, two
// fdatasyncs, per round rather than per object. Added still returns only
// once its entry is committed.
//
// The rounds run on a goroutine that lives while they keep coming: one
// per index at most, none when idle.
type indexAdds struct {
	mu      sync.Mutex
	next    *addRound // collecting; nil when nobody waits
	running bool
}

type addRound struct {
	adds []*pendingAdd
	err  error // the transaction's, set before done
	done chan struct{}
}

type pendingAdd struct {
	key   string
	entry Entry
	old   *Entry // the entry it replaced, set by the round
}

// add writes e under key and returns what it replaced.
func (ix *Index) add(key string, e Entry) (*Entry, error) {
	g := &ix.adds
	a := &pendingAdd{key: key, entry: e}
	g.mu.Lock()
	if g.next == nil {
		g.next = &addRound{done: make(chan struct{})}
	}
	r := g.next
	r.adds = append(r.adds, a)
	if !g.running {
		g.running = true
		go ix.runAdds()
	}
	g.mu.Unlock()
	<-r.done
	return a.old, r.err
}

// runAdds commits rounds until none is waiting.
func (ix *Index) runAdds() {
	g := &ix.adds
	g.mu.Lock()
	for g.next != nil {
		r := g.next
		g.next = nil
		g.mu.Unlock()
		r.err = ix.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(objectsBucket)
			for _, a := range r.adds {
				a.old = nil
				if o, ok := decodeEntry(b.Get([]byte(a.key))); ok {
					a.old = &o
					a.entry.Hosted = a.entry.Hosted || o.Hosted
				}
				if err := b.Put([]byte(a.key), encodeEntry(a.entry)); err != nil {
					return err
				}
			}
			return nil
		})
		close(r.done)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
}

// newEntry is the entry of an object committed now.
func newEntry(size int64, hosted bool) Entry {
	now := time.Now()
	return Entry{Size: size, LastAccess: now, Added: now, Hosted: hosted}
}
