package pull_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/cache/disk"
	"nora/internal/fault"
	"nora/proxy/pull"
	"nora/upstream"
)

// origin is a small upstream that speaks both revalidation protocols:
// documents under /docs/ with ETags and 304s, OCI manifests under /v2/
// answering HEAD with their Docker-Content-Digest.
type origin struct {
	mu        sync.Mutex
	docs      map[string]string // path -> body
	status    int               // non-zero: every request gets this status
	remaining string            // ratelimit-remaining header, if set
	asked     map[string]int    // "GET /docs/a" -> count
	inm       []string          // If-None-Match values received
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asked[r.Method+" "+r.URL.Path]++
	o.inm = append(o.inm, r.Header.Get("If-None-Match"))
	if o.remaining != "" {
		w.Header().Set("Ratelimit-Remaining", o.remaining)
	}
	if o.status != 0 {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(o.status)
		return
	}
	body, ok := o.docs[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	d := digest.FromString(body)
	w.Header().Set("ETag", `"`+d.Encoded()[:12]+`"`)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(r.URL.Path, "/docs/") && r.Header.Get("If-None-Match") == w.Header().Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodGet {
		io.WriteString(w, body)
	}
}

func (o *origin) set(path, body string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.docs[path] = body
}

func (o *origin) setStatus(s int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status = s
}

func (o *origin) setRemaining(v string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.remaining = v
}

// lastINM is the If-None-Match of the last request.
func (o *origin) lastINM() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inm[len(o.inm)-1]
}

// count is how often "METHOD path" was asked.
func (o *origin) count(req string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.asked[req]
}

// clock is the engine's injected time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	o     *origin
	dir   string
	c     *cache.Cache
	reg   *upstream.Registry
	clock *clock
	refs  *pull.Refs
	docs  *pull.Docs
	// offline and hold are the next requests' options.
	offline bool
	hold    func() bool
}

const ttl = time.Minute

func newEnv(t *testing.T) *env {
	t.Helper()
	o := &origin{docs: map[string]string{}, asked: map[string]int{}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	log := slog.New(slog.DiscardHandler)
	// No retries and no breaker: each request is one upstream answer.
	reg, err := upstream.NewClient(upstream.Config{}, log, metrics.NewSet()).Registry(upstream.RegistryOptions{Name: "origin", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := cachetest.Open(t, dir)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	refs, err := pull.NewRefs(c, log, pull.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refs.Close)
	docs, err := pull.NewDocs(c, log, pull.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(docs.Close)
	return &env{t: t, o: o, dir: dir, c: c, reg: reg, clock: clk, refs: refs, docs: docs}
}

// tag resolves repo "app" tag the way the OCI handler does: revalidated
// by HEAD, fetched by GET and stored content addressed.
func (e *env) tag(tag string) (pull.Resolved, error) {
	path := "manifests/" + tag
	what := "app/" + path
	return e.refs.Resolve(context.Background(), pull.RefRequest{
		Key: "refs/test/app/_tags/" + tag, TTL: ttl, NegativeTTL: time.Minute, Offline: e.offline, Hold: e.hold,
		Refresh: pull.ByDigest(
			func(ctx context.Context) (digest.Digest, error) {
				resp, err := e.reg.Do(ctx, http.MethodHead, "app", path, nil)
				if err != nil {
					return "", pull.Unreachable(what, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return "", pull.StatusError(what, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				return digest.Digest(resp.Header.Get("Docker-Content-Digest")), nil
			},
			func(ctx context.Context) (pull.Fetched, error) {
				resp, err := e.reg.Do(ctx, http.MethodGet, "app", path, nil)
				if err != nil {
					return pull.Fetched{}, pull.Unreachable(what, err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return pull.Fetched{}, pull.StatusError(what, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				body, _ := io.ReadAll(resp.Body)
				d := digest.FromBytes(body)
				return pull.Fetched{Ref: cache.Ref{Digest: d}, Body: body}, e.c.PutBlob(ctx, d, body)
			}),
	})
}

func (e *env) doc(name string) (*pull.Doc, error) {
	return e.docs.Get(context.Background(), pull.DocRequest{
		Key: "refs/test/docs/" + name, Upstream: e.reg, URL: "/docs/" + name, TTL: ttl, NegativeTTL: time.Minute, Offline: e.offline,
	})
}

// body reads what a resolved tag serves: its body, or the blob it names.
func (e *env) body(res pull.Resolved) string {
	e.t.Helper()
	if res.Body != nil {
		return string(res.Body)
	}
	obj, err := e.c.Open(context.Background(), cache.BlobKey(res.Ref.Digest))
	if err != nil {
		e.t.Fatalf("tag names %s, which is not stored: %v", res.Ref.Digest, err)
	}
	defer obj.Body.Close()
	b, _ := io.ReadAll(obj.Body)
	return string(b)
}

// evict drops a blob from the store behind the cache's back, as eviction
// or an operator would.
func (e *env) evict(body string) {
	e.t.Helper()
	e.c.WaitLater() // a document is stored after it is answered
	s, err := disk.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.Delete(context.Background(), cache.BlobKey(digest.FromString(body))); err != nil {
		e.t.Fatal(err)
	}
}

// wantTag checks a tag resolution and how often the origin was asked in
// all (HEADs, GETs).
func (e *env) wantTag(what, tag, body, result string, stale bool, heads, gets int) {
	e.t.Helper()
	res, err := e.tag(tag)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	if got := e.body(res); got != body || res.Result != result || res.Stale != stale {
		e.t.Fatalf("%s: body %q result %q stale %v, want %q %q %v", what, got, res.Result, res.Stale, body, result, stale)
	}
	e.wantAsked(what, "/v2/app/manifests/"+tag, heads, gets)
}

func (e *env) wantDoc(what, name, body, result string, stale bool, gets int) {
	e.t.Helper()
	doc, err := e.doc(name)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	if string(doc.Body) != body || doc.Result != result || doc.Stale != stale {
		e.t.Fatalf("%s: body %q result %q stale %v, want %q %q %v", what, doc.Body, doc.Result, doc.Stale, body, result, stale)
	}
	e.wantAsked(what, "/docs/"+name, 0, gets)
}

func (e *env) wantAsked(what, path string, heads, gets int) {
	e.t.Helper()
	if h, g := e.o.count("HEAD "+path), e.o.count("GET "+path); h != heads || g != gets {
		e.t.Fatalf("%s: origin asked %d HEADs and %d GETs of %s, want %d and %d", what, h, g, path, heads, gets)
	}
}

// wantErr checks a failure's kind and that the origin was not asked more.
func wantErr(t *testing.T, what string, err error, kind fault.Kind) {
	t.Helper()
	if err == nil || fault.KindOf(err) != kind {
		t.Fatalf("%s: error %v, want kind %v", what, err, kind)
	}
}

func TestTagFreshness(t *testing.T) {
	e := newEnv(t)
	e.o.set("/v2/app/manifests/1", "one")
	e.wantTag("cold", "1", "one", "miss", false, 0, 1)
	e.wantTag("fresh hit", "1", "one", "hit", false, 0, 1)
	e.clock.advance(ttl)
	e.wantTag("revalidated, same digest", "1", "one", "hit", false, 1, 1)
	e.wantTag("fresh again after the HEAD", "1", "one", "hit", false, 1, 1)
	e.o.set("/v2/app/manifests/1", "two")
	e.clock.advance(ttl)
	e.wantTag("moved", "1", "two", "miss", false, 2, 2)
	e.wantTag("fresh after the move", "1", "two", "hit", false, 2, 2)
}

func TestDocFreshness(t *testing.T) {
	e := newEnv(t)
	e.o.set("/docs/a", "one")
	e.wantDoc("cold", "a", "one", "miss", false, 1)
	e.wantDoc("fresh hit", "a", "one", "hit", false, 1)
	e.clock.advance(ttl)
	e.wantDoc("revalidated by 304", "a", "one", "hit", false, 2)
	if inm := e.o.lastINM(); inm == "" {
		t.Fatal("revalidation sent no If-None-Match")
	}
	e.wantDoc("fresh again after the 304", "a", "one", "hit", false, 2)
	e.o.set("/docs/a", "two")
	e.clock.advance(ttl)
	e.wantDoc("changed", "a", "two", "miss", false, 3)
}

// TestStaleWhenUpstreamFails: an outage, a 5xx or a rate limit serves the
// copy we have, marked stale; what was never cached fails with the kind.
func TestStaleWhenUpstreamFails(t *testing.T) {
	f := func(status int, kind fault.Kind) {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t)
			e.o.set("/v2/app/manifests/1", "one")
			e.o.set("/docs/a", "one")
			e.wantTag("cold", "1", "one", "miss", false, 0, 1)
			e.wantDoc("cold", "a", "one", "miss", false, 1)
			e.o.setStatus(status)
			e.clock.advance(ttl)
			e.wantTag("upstream failing", "1", "one", "stale", true, 1, 1)
			e.wantDoc("upstream failing", "a", "one", "stale", true, 2)
			_, err := e.tag("2")
			wantErr(t, "never cached tag", err, kind)
			if kind == fault.RateLimited && fault.RetryAfter(err) != 7 {
				t.Fatalf("rate limited without the upstream's Retry-After: %v", err)
			}
			_, err = e.doc("b")
			wantErr(t, "never cached doc", err, kind)
			e.o.setStatus(0)
			e.wantTag("upstream back", "1", "one", "hit", false, 2, 1)
			e.wantDoc("upstream back", "a", "one", "hit", false, 3)
		})
	}
	f(http.StatusServiceUnavailable, fault.Unavailable)
	f(http.StatusBadGateway, fault.Unavailable)
	f(http.StatusTooManyRequests, fault.RateLimited)
}

func TestStaleWhenUpstreamUnreachable(t *testing.T) {
	e := newEnv(t)
	e.o.set("/v2/app/manifests/1", "one")
	e.wantTag("cold", "1", "one", "miss", false, 0, 1)
	reg, err := upstream.NewClient(upstream.Config{}, slog.New(slog.DiscardHandler), metrics.NewSet()).Registry(upstream.RegistryOptions{Name: "gone", URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	e.clock.advance(ttl)
	e.wantTag("unreachable", "1", "one", "stale", true, 0, 1)
	_, err = e.tag("2")
	wantErr(t, "never cached", err, fault.Unavailable)
}

// TestRateLimitBudgetHolds: with the upstream's pull budget nearly spent,
// an expired tag is served stale without a HEAD.
func TestRateLimitBudgetHolds(t *testing.T) {
	e := newEnv(t)
	e.hold = func() bool { n, known := e.reg.RateLimitRemaining(); return known && n < 5 }
	e.o.set("/v2/app/manifests/1", "one")
	e.o.setRemaining("100;w=21600")
	e.wantTag("cold", "1", "one", "miss", false, 0, 1)
	e.clock.advance(ttl)
	e.wantTag("budget fine", "1", "one", "hit", false, 1, 1)
	e.o.setRemaining("4;w=21600")
	e.clock.advance(ttl)
	e.wantTag("budget fine, learns it is low", "1", "one", "hit", false, 2, 1)
	e.clock.advance(ttl)
	e.wantTag("budget low", "1", "one", "stale", true, 2, 1)
}

func TestOffline(t *testing.T) {
	e := newEnv(t)
	e.o.set("/v2/app/manifests/1", "one")
	e.o.set("/docs/a", "one")
	e.wantTag("cold", "1", "one", "miss", false, 0, 1)
	e.wantDoc("cold", "a", "one", "miss", false, 1)
	e.offline = true
	e.wantTag("offline, fresh", "1", "one", "hit", false, 0, 1)
	e.clock.advance(ttl)
	e.wantTag("offline, expired", "1", "one", "stale", true, 0, 1)
	e.wantDoc("offline, expired", "a", "one", "stale", true, 1)
	_, err := e.tag("2")
	wantErr(t, "offline, never cached", err, fault.Unavailable)
	if !errors.Is(err, pull.ErrOffline) {
		t.Fatalf("offline, never cached: %v", err)
	}
	e.wantAsked("offline, never cached", "/v2/app/manifests/2", 0, 0)
}

func TestNegativeCache(t *testing.T) {
	e := newEnv(t)
	_, err := e.tag("missing")
	wantErr(t, "upstream 404", err, fault.NotFound)
	e.wantAsked("upstream 404", "/v2/app/manifests/missing", 0, 1)
	e.o.set("/v2/app/manifests/missing", "late")
	_, err = e.tag("missing")
	wantErr(t, "remembered 404", err, fault.NotFound)
	e.wantAsked("remembered 404", "/v2/app/manifests/missing", 0, 1)
	_, err = e.doc("missing")
	wantErr(t, "doc 404", err, fault.NotFound)
	_, err = e.doc("missing")
	wantErr(t, "remembered doc 404", err, fault.NotFound)
	e.wantAsked("remembered doc 404", "/docs/missing", 0, 1)
}

// TestEvictedBodyRefetched: a ref whose body is gone is fetched again in
// full, never revalidated (a 304 or same digest would leave nothing).
func TestEvictedBodyRefetched(t *testing.T) {
	e := newEnv(t)
	e.o.set("/v2/app/manifests/1", "one")
	e.o.set("/docs/a", "one")
	e.wantTag("cold", "1", "one", "miss", false, 0, 1)
	e.wantDoc("cold", "a", "one", "miss", false, 1)
	e.evict("one")
	e.wantTag("fresh ref, body gone", "1", "one", "miss", false, 0, 2)
	e.evict("one")
	e.clock.advance(ttl)
	e.wantTag("expired ref, body gone", "1", "one", "miss", false, 0, 3)
	e.evict("one") // the tag and the doc share the blob
	e.wantDoc("expired ref, body gone", "a", "one", "miss", false, 2)
	if inm := e.o.lastINM(); inm != "" {
		t.Fatalf("refetch of an evicted doc was conditional (If-None-Match %s)", inm)
	}
}
