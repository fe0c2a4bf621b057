package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// fake is a small loopback registry behind a bearer token endpoint, with
// counters, for the client's unit tests.
type fake struct {
	reg *httptest.Server // /v2/…, and /token when the realm is same-origin
	tok *httptest.Server // /token on another port (another origin)

	user, pass string // if set, the token endpoint demands them
	sameOrigin bool   // challenge names the realm on reg instead of tok
	field      string // "token" or "access_token"
	expiresIn  int

	issued    atomic.Int32 // tokens issued
	tokenAuth atomic.Int32 // token requests that carried Authorization
	hits      atomic.Int32 // authorized /v2/ requests

	mu     sync.Mutex
	valid  map[string]bool
	scopes []string         // scope parameters seen at the token endpoint
	serve  http.HandlerFunc // answers authorized /v2/ requests
}

func newFake(t *testing.T, edit func(*fake)) *fake {
	t.Helper()
	f := &fake{field: "token", expiresIn: 300, valid: map[string]bool{}}
	f.serve = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Ratelimit-Remaining", "76;w=21600")
		fmt.Fprint(w, "content of "+r.URL.Path)
	}
	if edit != nil {
		edit(f)
	}
	f.tok = httptest.NewServer(http.HandlerFunc(f.token))
	t.Cleanup(f.tok.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/token", f.token)
	mux.HandleFunc("/v2/", f.registry)
	f.reg = httptest.NewServer(mux)
	t.Cleanup(f.reg.Close)
	return f
}

func (f *fake) realm() string {
	if f.sameOrigin {
		return f.reg.URL + "/token"
	}
	return f.tok.URL + "/token"
}

func (f *fake) token(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		f.tokenAuth.Add(1)
	}
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
	}
	n := f.issued.Add(1)
	tok := fmt.Sprintf("tok-%d", n)
	f.mu.Lock()
	f.valid[tok] = true
	f.scopes = append(f.scopes, strings.Join(r.URL.Query()["scope"], " "))
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{f.field: tok, "expires_in": f.expiresIn})
}

func (f *fake) registry(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok := f.valid[tok]
	f.mu.Unlock()
	if !ok {
		repo := strings.TrimPrefix(r.URL.Path, "/v2/")
		repo = repo[:max(strings.LastIndex(repo, "/manifests/"), strings.LastIndex(repo, "/blobs/"), 0)]
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake",scope="repository:%s:pull"`, f.realm(), repo))
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		return
	}
	f.hits.Add(1)
	f.serve(w, r)
}

// testConfig retries fast and keeps the breaker out of the way.
func testConfig() Config {
	c := DefaultConfig()
	c.RetryBackoff = time.Millisecond
	c.RetryBackoffMax = 5 * time.Millisecond
	c.BreakerFailures = 0
	return c
}

func newTestRegistry(t *testing.T, cfg Config, o RegistryOptions) (*Registry, *metrics.Set) {
	t.Helper()
	return newClockedRegistry(t, cfg, o, time.Now)
}

// newClockedRegistry is newTestRegistry on the clock now.
func newClockedRegistry(t *testing.T, cfg Config, o RegistryOptions, now func() time.Time) (*Registry, *metrics.Set) {
	t.Helper()
	set := metrics.NewSet()
	if o.Name == "" {
		o.Name = "test"
	}
	c := NewClient(cfg, slog.New(slog.DiscardHandler), set)
	c.now = now
	r, err := c.Registry(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, set
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// metric returns the exposition value of one series, "" if absent.
func metric(set *metrics.Set, series string) string {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return ""
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func metricsGauge() *metrics.Gauge { return metrics.NewSet().NewGauge("g", nil) }
