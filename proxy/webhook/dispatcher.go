package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	bolt "go.etcd.io/bbolt"

	"nora/auth"
	"nora/proxy/httpx"
)

// Tuning is what the TOML file does not set: retry pacing, sizes and the
// clock (tests shorten them).
type Tuning struct {
	// MinBackoff and MaxBackoff bound the wait after a failed attempt: it
	// doubles from MinBackoff up to MaxBackoff, jittered.
	MinBackoff, MaxBackoff time.Duration
	// GiveUp is how long after it was queued a delivery that keeps failing
	// is marked failed and dropped from the queue.
	GiveUp time.Duration
	// Buffer is how many events may wait in memory for the queue's writer;
	// past it, events are dropped (counted, logged): a push never waits.
	Buffer int
	// History is how many delivered or failed deliveries each webhook keeps.
	History int
	// Now is the clock of queue times and the give-up (nil: time.Now).
	Now func() time.Time
}

// DefaultTuning: retries from 1 s to 5 min for 24 h.
func DefaultTuning() Tuning {
	return Tuning{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, GiveUp: 24 * time.Hour,
		Buffer: 4096, History: 100, Now: time.Now}
}

// maxBatch bounds the events the writer puts in the queue in one
// transaction (one disk sync).
const maxBatch = 256

// Dispatcher queues events for the webhooks that want them and delivers
// them: one writer goroutine moves events from memory into the queue
// file, one sender per webhook posts its queue in order.
type Dispatcher struct {
	log     *slog.Logger
	db      *bolt.DB
	tune    Tuning
	hooks   []*hook
	kinds   uint8 // the union of the webhooks' event masks
	in      chan httpx.Event
	dropped *metrics.Counter
	drops   atomic.Uint64
	stop    chan struct{}
	writer  sync.WaitGroup
	senders sync.WaitGroup
	once    sync.Once
}

// Open opens (or creates) the queue file at path and starts delivering,
// until ctx ends, to the webhooks cfgs (each must pass Check).
func Open(ctx context.Context, path string, cfgs []Config, t Tuning, log *slog.Logger, set *metrics.Set) (*Dispatcher, error) {
	if t.Now == nil {
		t.Now = time.Now
	}
	names := make([]string, len(cfgs))
	for i, c := range cfgs {
		names[i] = NameOf(i, c)
	}
	db, err := openDB(path, names)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{log: log, db: db, tune: t, in: make(chan httpx.Event, max(t.Buffer, 1)),
		dropped: set.NewCounter("nora_webhook_events_dropped_total"), stop: make(chan struct{})}
	for i, c := range cfgs {
		h, err := newHook(ctx, d, names[i], c, set)
		if err != nil {
			for _, h := range d.hooks {
				h.cancel()
			}
			db.Close()
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		d.hooks = append(d.hooks, h)
		d.kinds |= h.filter.kinds
	}
	d.writer.Add(1)
	go d.write()
	for _, h := range d.hooks {
		d.senders.Add(1)
		go func() {
			defer d.senders.Done()
			h.run()
		}()
	}
	return d, nil
}

// Send hands e to the queue's writer without waiting: when the buffer is
// full, e is dropped and counted. It is the server's event sink.
func (d *Dispatcher) Send(e httpx.Event) {
	if d.kinds&kindBit(e.Kind) == 0 {
		return
	}
	select {
	case d.in <- e:
	default:
		d.dropped.Inc()
		// Logged at 1, 2, 4, 8, ... drops: an overload must not flood the log.
		if n := d.drops.Add(1); n&(n-1) == 0 {
			d.log.Warn("webhook event dropped: the queue's writer is behind", "event", e.Kind, "name", e.Name, "dropped", n)
		}
	}
}

// write moves events from memory into the queue, a batch per transaction.
func (d *Dispatcher) write() {
	defer d.writer.Done()
	batch := make([]httpx.Event, 0, maxBatch)
	for {
		select {
		case e := <-d.in:
			batch = append(batch[:0], e)
		case <-d.stop:
			// What was accepted before the stop is kept for the next start.
			for {
				batch = d.take(batch[:0])
				if len(batch) == 0 {
					return
				}
				d.enqueue(batch)
			}
		}
		d.enqueue(d.take(batch))
	}
}

// take appends the events waiting in memory to batch, up to maxBatch.
func (d *Dispatcher) take(batch []httpx.Event) []httpx.Event {
	for len(batch) < maxBatch {
		select {
		case e := <-d.in:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// enqueue puts each event of batch in the queue of each webhook that
// wants it, in one transaction, and wakes their senders.
func (d *Dispatcher) enqueue(batch []httpx.Event) {
	added := make([]int, len(d.hooks))
	now := d.tune.Now()
	err := d.db.Update(func(tx *bolt.Tx) error {
		clear(added)
		for i, h := range d.hooks {
			b := tx.Bucket(queueBucket(h.name))
			for j := range batch {
				if !h.filter.wants(&batch[j]) {
					continue
				}
				if err := put(b, &Delivery{Event: batch[j], Status: Pending, Queued: now}); err != nil {
					return err
				}
				added[i]++
			}
		}
		return nil
	})
	if err != nil {
		d.dropped.Add(len(batch))
		d.log.Error("webhook events lost: cannot write the queue", "events", len(batch), "err", err)
		return
	}
	for i, h := range d.hooks {
		if added[i] > 0 {
			h.queued.Add(int64(added[i]))
			h.wake()
		}
	}
}

// Close stops the senders (ctx of Open must have ended, or they stop at
// their next wait), writes the events still in memory to the queue and
// closes it.
func (d *Dispatcher) Close() {
	d.once.Do(func() {
		for _, h := range d.hooks {
			h.cancel()
		}
		d.senders.Wait()
		close(d.stop)
		d.writer.Wait()
		if err := d.db.Close(); err != nil {
			d.log.Warn("cannot close the webhook queue", "err", err)
		}
	})
}

// Webhook is one webhook's recent deliveries, newest first: the pending
// ones, then the delivered and failed ones it keeps.
type Webhook struct {
	Name        string     `json:"name"`
	URL         string     `json:"url"` // credentials redacted
	QueueLength int64      `json:"queue_length"`
	Deliveries  []Delivery `json:"deliveries"`
}

// Deliveries lists up to limit recent deliveries of each webhook.
func (d *Dispatcher) Deliveries(limit int) ([]Webhook, error) {
	out := make([]Webhook, 0, len(d.hooks))
	for _, h := range d.hooks {
		ds, err := recent(d.db, h.name, limit)
		if err != nil {
			return nil, fmt.Errorf("cannot read the deliveries of %s: %w", h.name, err)
		}
		out = append(out, Webhook{Name: h.name, URL: auth.RedactURL(h.url), QueueLength: h.queued.Load(), Deliveries: ds})
	}
	return out, nil
}

// client posts to webhooks: no redirects (a 3xx is a failed attempt).
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
