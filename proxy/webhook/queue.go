package webhook

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"nora/internal/fault"
	"nora/proxy/httpx"
)

// Delivery states.
const (
	Pending   = "pending"
	Delivered = "delivered"
	Failed    = "failed"
)

// Delivery is one event on its way to one webhook, as the queue keeps it
// and GET /api/v1/webhooks/deliveries shows it.
type Delivery struct {
	Event       httpx.Event `json:"event"`
	Status      string      `json:"status"`
	Attempts    int         `json:"attempts"`
	StatusCode  int         `json:"status_code,omitempty"` // of the last attempt
	Error       string      `json:"error,omitempty"`       // of the last attempt
	Queued      time.Time   `json:"queued"`
	LastAttempt time.Time   `json:"last_attempt,omitzero"`
	NextAttempt time.Time   `json:"next_attempt,omitzero"`
	Done        time.Time   `json:"done,omitzero"`
}

// Each webhook has two buckets keyed by a sequence number: its queue
// (pending deliveries, oldest first) and its history (the last delivered
// or failed ones).
const (
	queuePrefix   = "queue:"
	historyPrefix = "history:"
)

func queueBucket(name string) []byte   { return []byte(queuePrefix + name) }
func historyBucket(name string) []byte { return []byte(historyPrefix + name) }

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// openDB opens the queue file and drops the buckets of webhooks no longer
// configured: their events have nowhere to go.
func openDB(path string, names []string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "cannot open the webhook queue "+path)
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[queuePrefix+n], keep[historyPrefix+n] = true, true
	}
	err = db.Update(func(tx *bolt.Tx) error {
		var gone [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !keep[string(name)] && (strings.HasPrefix(string(name), queuePrefix) || strings.HasPrefix(string(name), historyPrefix)) {
				gone = append(gone, append([]byte(nil), name...))
			}
			return nil
		})
		for _, n := range gone {
			if err == nil {
				err = tx.DeleteBucket(n)
			}
		}
		for _, n := range names {
			if _, err2 := tx.CreateBucketIfNotExists(queueBucket(n)); err == nil {
				err = err2
			}
			if _, err2 := tx.CreateBucketIfNotExists(historyBucket(n)); err == nil {
				err = err2
			}
		}
		return err
	})
	if err != nil {
		db.Close()
		return nil, fault.Wrap(fault.Internal, err, "cannot prepare the webhook queue "+path)
	}
	return db, nil
}

// counts is how many deliveries a webhook's queue and history hold.
func counts(db *bolt.DB, name string) (queued, history int, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		queued = tx.Bucket(queueBucket(name)).Stats().KeyN
		history = tx.Bucket(historyBucket(name)).Stats().KeyN
		return nil
	})
	return queued, history, err
}

// head is the oldest pending delivery of a webhook; ok is false when its
// queue is empty.
func head(db *bolt.DB, name string) (key []byte, d Delivery, ok bool, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(queueBucket(name)).Cursor().First()
		if k == nil {
			return nil
		}
		key, ok = append([]byte(nil), k...), true
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		err = fmt.Errorf("cannot read the webhook queue of %s: %w", name, err)
	}
	return key, d, ok, err
}

// put adds d at the end of bucket b.
func put(b *bolt.Bucket, d *Delivery) error {
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return b.Put(seqKey(n), v)
}

// retire moves the queue's entry key to the history as d, keeping the
// newest keep entries there.
func retire(db *bolt.DB, name string, key []byte, d *Delivery, keep int) error {
	return db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(queueBucket(name)).Delete(key); err != nil {
			return err
		}
		h := tx.Bucket(historyBucket(name))
		if err := put(h, d); err != nil {
			return err
		}
		return trim(h, keep)
	})
}

// trim deletes all but the last keep entries of b.
func trim(b *bolt.Bucket, keep int) error {
	c := b.Cursor()
	k, _ := c.Last()
	for i := 1; i < keep && k != nil; i++ {
		k, _ = c.Prev()
	}
	if k == nil {
		return nil
	}
	first := append([]byte(nil), k...)
	for k, _ := c.First(); k != nil && string(k) < string(first); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// update rewrites the queue's entry key (after a failed attempt).
func update(db *bolt.DB, name string, key []byte, d *Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error { return tx.Bucket(queueBucket(name)).Put(key, v) })
}

// recent is up to limit deliveries of a webhook, newest first: the
// pending ones, then the history.
func recent(db *bolt.DB, name string, limit int) ([]Delivery, error) {
	out := []Delivery{}
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range []*bolt.Bucket{tx.Bucket(queueBucket(name)), tx.Bucket(historyBucket(name))} {
			c := b.Cursor()
			for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
				var d Delivery
				if err := json.Unmarshal(v, &d); err != nil {
					return err
				}
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}
