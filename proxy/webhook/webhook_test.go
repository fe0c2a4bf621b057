package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/proxy/httpx"
	"nora/proxy/webhook"
)

const testSecret = "s3cret"

// receiver is a webhook receiver: it checks each post's signature and
// headers, keeps what it got, and answers 503 while down.
type receiver struct {
	t    testing.TB
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []httpx.Event // accepted (2xx), in arrival order
	// hold, if set, blocks each post until it is closed.
	hold chan struct{}
	// serving counts the posts being handled (quiet).
	serving sync.WaitGroup
}

// quiet cuts the connections and waits for the posts being handled, so
// that a post sent while the receiver was down is not taken after it
// comes back (the test's switch, not nora, would deliver it twice).
func (r *receiver) quiet() {
	r.srv.CloseClientConnections()
	r.serving.Wait()
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.serving.Add(1)
	defer r.serving.Done()
	down := r.down.Load() // as the post arrived
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: %v", err)
		return
	}
	if r.hold != nil {
		<-r.hold
	}
	if got, want := req.Header.Get("X-Nora-Signature"), webhook.Sign([]byte(testSecret), body); got != want {
		r.t.Errorf("signature %q, want %q", got, want)
	}
	var e httpx.Event
	if err := json.Unmarshal(body, &e); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	if req.Header.Get("X-Nora-Event") != e.Kind || req.Header.Get("X-Nora-Delivery") != e.ID || e.ID == "" {
		r.t.Errorf("headers %v do not name event %+v", req.Header, e)
	}
	if down || r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
}

func (r *receiver) events() []httpx.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// fast is a tuning that retries within milliseconds.
func fast() webhook.Tuning {
	t := webhook.DefaultTuning()
	t.MinBackoff, t.MaxBackoff = time.Millisecond, 20*time.Millisecond
	return t
}

func open(t testing.TB, path string, cfgs []webhook.Config, tune webhook.Tuning) (*webhook.Dispatcher, *metrics.Set) {
	t.Helper()
	set := metrics.NewSet()
	d, err := webhook.Open(t.Context(), path, cfgs, tune, slog.New(slog.DiscardHandler), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, set
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func event(id, kind, format, name, ref string) httpx.Event {
	return httpx.Event{ID: id, Time: time.Now(), Kind: kind, Actor: "ci", Format: format, Name: name, Reference: ref}
}

func ids(es []httpx.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestFilterAndSignature(t *testing.T) {
	r := newReceiver(t)
	d, _ := open(t, filepath.Join(t.TempDir(), "webhooks.db"), []webhook.Config{
		{URL: r.srv.URL, Secret: testSecret, Match: "team/**", Format: "docker"},
	}, fast())
	d.Send(event("1", httpx.EventPush, "docker", "team/app", "v1"))
	d.Send(event("2", httpx.EventPush, "docker", "other/app", "v1")) // no match
	d.Send(event("3", httpx.EventPublish, "npm", "team/x", "1.0"))   // other format
	d.Send(event("4", httpx.EventFill, "docker", "team/app", "x"))   // fill: not asked for
	d.Send(event("5", httpx.EventDelete, "docker", "team/a/b", "v1"))
	waitFor(t, "2 events", func() bool { return len(r.events()) >= 2 })
	if got := ids(r.events()); !slices.Equal(got, []string{"1", "5"}) {
		t.Fatalf("got %v, want [1 5]", got)
	}
	e := r.events()[0]
	if e.Kind != "push" || e.Actor != "ci" || e.Format != "docker" || e.Name != "team/app" || e.Reference != "v1" {
		t.Errorf("event %+v", e)
	}
}

func TestFillOptIn(t *testing.T) {
	r := newReceiver(t)
	d, _ := open(t, filepath.Join(t.TempDir(), "webhooks.db"), []webhook.Config{
		{URL: r.srv.URL, Secret: testSecret, Events: []string{"fill"}},
	}, fast())
	d.Send(event("1", httpx.EventPush, "docker", "a", "v1"))
	d.Send(event("2", httpx.EventFill, "npm", "lodash", "/npm/lodash"))
	waitFor(t, "the fill", func() bool { return len(r.events()) == 1 })
	if got := ids(r.events()); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("got %v, want [2]", got)
	}
}

// sendMany sends n events over names a and b, alternating; ids "0".."n-1".
func sendMany(d *webhook.Dispatcher, from, n int) {
	for i := from; i < from+n; i++ {
		d.Send(event(fmt.Sprint(i), httpx.EventPush, "docker", []string{"a", "b"}[i%2], fmt.Sprint(i)))
	}
}

// checkOnceInOrder fails unless got holds each of ids 0..n-1 exactly
// once, each name's in the order sent.
func checkOnceInOrder(t *testing.T, got []httpx.Event, n int) {
	t.Helper()
	seen := map[string]int{}
	last := map[string]int{}
	for _, e := range got {
		seen[e.ID]++
		var i int
		fmt.Sscan(e.ID, &i)
		if l, ok := last[e.Name]; ok && i <= l {
			t.Errorf("%s: event %d after %d", e.Name, i, l)
		}
		last[e.Name] = i
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("event %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
	if len(got) != n {
		t.Errorf("%d deliveries, want %d", len(got), n)
	}
}

func TestReceiverDownThenBack(t *testing.T) {
	r := newReceiver(t)
	r.down.Store(true)
	d, set := open(t, filepath.Join(t.TempDir(), "webhooks.db"), []webhook.Config{{URL: r.srv.URL, Secret: testSecret}}, fast())
	sendMany(d, 0, 20)
	waitFor(t, "retries", func() bool {
		return counter(set, `nora_webhook_deliveries_total{webhook="webhook-0",result="retry"}`) >= 3
	})
	if len(r.events()) != 0 {
		t.Fatal("delivered while the receiver is down")
	}
	r.down.Store(false)
	waitFor(t, "20 events", func() bool { return len(r.events()) >= 20 })
	waitFor(t, "an empty queue", func() bool { return queueLength(t, d) == 0 })
	checkOnceInOrder(t, r.events(), 20)
	ws, err := d.Deliveries(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws[0].Deliveries) != 20 || ws[0].Deliveries[0].Event.ID != "19" || ws[0].Deliveries[19].Attempts < 2 {
		t.Errorf("deliveries: %+v", ws[0].Deliveries)
	}
	for _, dl := range ws[0].Deliveries {
		if dl.Status != webhook.Delivered {
			t.Errorf("delivery %s: %s", dl.Event.ID, dl.Status)
		}
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	r := newReceiver(t)
	r.down.Store(true)
	path := filepath.Join(t.TempDir(), "webhooks.db")
	cfgs := []webhook.Config{{Name: "ci", URL: r.srv.URL, Secret: testSecret}}
	d, _ := open(t, path, cfgs, fast())
	sendMany(d, 0, 10)
	waitFor(t, "10 queued", func() bool { return queueLength(t, d) == 10 })
	d.Close()
	r.quiet()
	r.down.Store(false)
	d, _ = open(t, path, cfgs, fast())
	sendMany(d, 10, 5)
	waitFor(t, "15 events", func() bool { return len(firstOfEach(r.events())) >= 15 })
	waitFor(t, "an empty queue", func() bool { return queueLength(t, d) == 0 })
	// A post under way when nora stopped may still reach the receiver
	// (it was in the receiver's accept queue) besides its redelivery: the
	// README tells receivers to dedupe on X-Nora-Delivery. At most one.
	got := r.events()
	if len(got) > 16 {
		t.Fatalf("%d deliveries of 15 events across one stop", len(got))
	}
	checkOnceInOrder(t, firstOfEach(got), 15)
}

// firstOfEach keeps the first delivery of each event.
func firstOfEach(events []httpx.Event) []httpx.Event {
	seen := map[string]bool{}
	var out []httpx.Event
	for _, e := range events {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

func TestGiveUp(t *testing.T) {
	r := newReceiver(t)
	r.down.Store(true)
	now := time.Now()
	var clock atomic.Int64
	tune := fast()
	tune.GiveUp = time.Hour
	tune.Now = func() time.Time { return now.Add(time.Duration(clock.Load())) }
	d, set := open(t, filepath.Join(t.TempDir(), "webhooks.db"), []webhook.Config{{URL: r.srv.URL, Secret: testSecret}}, tune)
	d.Send(event("1", httpx.EventPush, "docker", "a", "v1"))
	waitFor(t, "a retry", func() bool {
		return counter(set, `nora_webhook_deliveries_total{webhook="webhook-0",result="retry"}`) >= 1
	})
	clock.Store(int64(time.Hour))
	waitFor(t, "the give-up", func() bool {
		return counter(set, `nora_webhook_deliveries_total{webhook="webhook-0",result="failed"}`) == 1
	})
	ws, err := d.Deliveries(10)
	if err != nil {
		t.Fatal(err)
	}
	dl := ws[0].Deliveries
	if len(dl) != 1 || dl[0].Status != webhook.Failed || dl[0].StatusCode != 503 || dl[0].Error == "" || ws[0].QueueLength != 0 {
		t.Errorf("deliveries %+v", ws)
	}
	// The next event goes out: a failed one does not block the queue.
	r.down.Store(false)
	d.Send(event("2", httpx.EventPush, "docker", "a", "v2"))
	waitFor(t, "event 2", func() bool { return len(r.events()) == 1 })
}

// TestSlowReceiver: Send returns while the receiver holds the first post.
func TestSlowReceiver(t *testing.T) {
	r := newReceiver(t)
	r.hold = make(chan struct{})
	d, _ := open(t, filepath.Join(t.TempDir(), "webhooks.db"), []webhook.Config{{URL: r.srv.URL, Secret: testSecret}}, fast())
	sendMany(d, 0, 50)
	waitFor(t, "50 queued", func() bool { return queueLength(t, d) == 50 })
	close(r.hold)
	waitFor(t, "50 events", func() bool { return len(r.events()) == 50 })
	checkOnceInOrder(t, r.events(), 50)
}

func queueLength(t *testing.T, d *webhook.Dispatcher) int64 {
	t.Helper()
	ws, err := d.Deliveries(1)
	if err != nil {
		t.Fatal(err)
	}
	return ws[0].QueueLength
}

func counter(set *metrics.Set, name string) uint64 {
	return set.GetOrCreateCounter(name).Get()
}

func TestCheck(t *testing.T) {
	f := func(c webhook.Config, want ...string) {
		t.Helper()
		var got []string
		for _, e := range c.Check() {
			got = append(got, e.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: problems with %v, want %v (%v)", c, got, want, c.Check())
		}
	}
	ok := "https://hooks.test/x"
	f(webhook.Config{URL: ok})
	f(webhook.Config{URL: ok, Events: []string{"push", "fill"}, Match: "team/**", Format: "npm", Timeout: 1})
	f(webhook.Config{}, "url")
	f(webhook.Config{URL: "ftp://x"}, "url")
	f(webhook.Config{URL: "https://"}, "url")
	f(webhook.Config{URL: ok, Events: []string{"pull"}}, "events")
	f(webhook.Config{URL: ok, Match: "[a"}, "match")
	f(webhook.Config{URL: ok, Format: "helm"}, "format")
	f(webhook.Config{URL: ok, Secret: "a", SecretFile: "b"}, "secret_file")
	f(webhook.Config{URL: ok, SecretFile: filepath.Join(t.TempDir(), "none")}, "secret_file")
	f(webhook.Config{URL: ok, Name: "a b"}, "name")
	f(webhook.Config{URL: ok, Timeout: -1}, "timeout")
}
