package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/proxy/httpx"
)

// hook is one webhook and its sender.
type hook struct {
	d      *Dispatcher
	name   string
	url    string
	filter filter
	secret []byte
	client *http.Client
	// queued is the length of its queue; notify wakes its sender.
	queued atomic.Int64
	notify chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	// results counts attempts by result: delivered, retry, failed.
	delivered, retry, failed *metrics.Counter
}

func newHook(ctx context.Context, d *Dispatcher, name string, c Config, set *metrics.Set) (*hook, error) {
	f, err := newFilter(c)
	if err != nil {
		return nil, err
	}
	secret, err := c.secret()
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	h := &hook{d: d, name: name, url: c.URL, filter: f, secret: secret, client: newClient(timeout),
		notify: make(chan struct{}, 1)}
	h.ctx, h.cancel = context.WithCancel(ctx)
	queued, _, err := counts(d.db, name)
	if err != nil {
		return nil, err
	}
	h.queued.Store(int64(queued))
	counter := func(result string) *metrics.Counter {
		return set.NewCounter(fmt.Sprintf(`nora_webhook_deliveries_total{webhook=%q,result=%q}`, name, result))
	}
	h.delivered, h.retry, h.failed = counter(Delivered), counter("retry"), counter(Failed)
	set.NewGauge(fmt.Sprintf(`nora_webhook_queue_length{webhook=%q}`, name), func() float64 { return float64(h.queued.Load()) })
	return h, nil
}

func (h *hook) wake() {
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// run posts the queue's head until it is delivered or given up, then the
// next: one event at a time, so a receiver sees each name's events in
// the order they happened.
func (h *hook) run() {
	ctx := h.ctx
	for ctx.Err() == nil {
		key, dl, ok, err := head(h.d.db, h.name)
		var wait <-chan time.Time
		switch {
		case err != nil:
			h.d.log.Error("webhook sender stalled", "webhook", h.name, "err", err)
			wait = time.After(h.d.tune.MaxBackoff)
		case !ok:
		case dl.NextAttempt.After(h.d.tune.Now()):
			wait = time.After(dl.NextAttempt.Sub(h.d.tune.Now()))
		default:
			h.attempt(ctx, key, dl)
			continue
		}
		select {
		case <-ctx.Done():
		case <-h.notify:
		case <-wait:
		}
	}
}

// attempt posts dl once and records the outcome; its metrics count once
// it is recorded.
func (h *hook) attempt(ctx context.Context, key []byte, dl Delivery) {
	code, err := h.post(ctx, &dl.Event)
	if ctx.Err() != nil {
		return // stopping: the delivery stays queued, as it was
	}
	now := h.d.tune.Now()
	dl.Attempts++
	dl.LastAttempt, dl.StatusCode, dl.Error = now, code, ""
	if err != nil {
		dl.Error = err.Error()
	}
	if err != nil && now.Sub(dl.Queued) < h.d.tune.GiveUp {
		dl.NextAttempt = now.Add(h.backoff(dl.Attempts))
		if err := update(h.d.db, h.name, key, &dl); err != nil {
			h.d.log.Error("cannot record a webhook attempt", "webhook", h.name, "err", err)
		}
		h.retry.Inc()
		return
	}
	dl.Status, dl.Done, dl.NextAttempt = Delivered, now, time.Time{}
	if err != nil {
		dl.Status = Failed
		h.d.log.Warn("webhook delivery failed: given up", "webhook", h.name, "id", dl.Event.ID, "event", dl.Event.Kind,
			"name", dl.Event.Name, "attempts", dl.Attempts, "err", err)
	}
	if err := retire(h.d.db, h.name, key, &dl, h.d.tune.History); err != nil {
		h.d.log.Error("cannot record a webhook delivery", "webhook", h.name, "err", err)
		return
	}
	h.queued.Add(-1)
	if dl.Status == Failed {
		h.failed.Inc()
	} else {
		h.delivered.Inc()
	}
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, at most MaxBackoff, less up to a half at random so that
// receivers coming back are not hit by every nora at once.
func (h *hook) backoff(n int) time.Duration {
	t := h.d.tune
	b := t.MinBackoff
	for i := 1; i < n && b < t.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, t.MaxBackoff)
	return b - time.Duration(rand.Int64N(int64(b)/2+1))
}

// maxErrorBody bounds what is read of a receiver's answer.
const maxErrorBody = 64 << 10

// post sends e; err is nil only on a 2xx.
func (h *hook) post(ctx context.Context, e *httpx.Event) (int, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nora-webhook")
	req.Header.Set("X-Nora-Event", e.Kind)
	req.Header.Set("X-Nora-Delivery", e.ID)
	if len(h.secret) > 0 {
		req.Header.Set("X-Nora-Signature", Sign(h.secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Sign is the X-Nora-Signature of body with secret: "sha256=" and the hex
// HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
