package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, r *Registry, repo, path string) (int, string) {
	t.Helper()
	resp, err := r.Do(context.Background(), http.MethodGet, repo, path, nil)
	if err != nil {
		t.Fatalf("GET %s/%s: %v", repo, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", repo, path, err)
	}
	return resp.StatusCode, string(b)
}

func TestTokenDance(t *testing.T) {
	// f pulls one manifest; credsSent is whether the token endpoint saw them.
	f := func(edit func(*fake), opts func(f *fake, o *RegistryOptions), wantStatus int, credsSent bool) {
		t.Helper()
		fk := newFake(t, edit)
		o := RegistryOptions{URL: fk.reg.URL}
		if opts != nil {
			opts(fk, &o)
		}
		r, _ := newTestRegistry(t, testConfig(), o)
		status, body := get(t, r, "library/app", "manifests/latest")
		if status != wantStatus {
			t.Fatalf("status %d, want %d (%s)", status, wantStatus, body)
		}
		if got := fk.tokenAuth.Load() > 0; got != credsSent {
			t.Fatalf("credentials sent to token endpoint: %v, want %v", got, credsSent)
		}
	}
	creds := func(_ *fake, o *RegistryOptions) { o.Username, o.Password = "u", "p" }
	needCreds := func(fk *fake) { fk.user, fk.pass = "u", "p" }

	// anonymous
	f(nil, nil, 200, false)
	f(func(fk *fake) { fk.field = "access_token" }, nil, 200, false)
	// credentials to the configured realm
	f(needCreds, func(fk *fake, o *RegistryOptions) { creds(fk, o); o.Realm = fk.tok.URL + "/token" }, 200, true)
	// credentials to a realm on the upstream's own origin
	f(func(fk *fake) { needCreds(fk); fk.sameOrigin = true }, creds, 200, true)
	// a realm on another origin that was not configured gets no credentials:
	// the token endpoint refuses, the caller sees the registry's 401
	f(needCreds, creds, 401, false)
	f(needCreds, func(fk *fake, o *RegistryOptions) { creds(fk, o); o.Realm = fk.tok.URL + "/other" }, 401, false)
	// anonymous tokens still work when credentials stay home
	f(nil, creds, 200, false)
}

func TestTokenCachedPerScope(t *testing.T) {
	fk := newFake(t, nil)
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL})
	for range 3 {
		get(t, r, "a/b", "manifests/latest")
	}
	if n := fk.issued.Load(); n != 1 {
		t.Fatalf("tokens issued: %d, want 1", n)
	}
	get(t, r, "c/d", "manifests/latest")
	get(t, r, "c/d", "blobs/sha256:00")
	if n := fk.issued.Load(); n != 2 {
		t.Fatalf("tokens issued: %d, want 2", n)
	}
	// The second repository's token was fetched up front, from the
	// remembered challenge: no 401 round trip, same scope string.
	if got := strings.Join(fk.scopes, "|"); got != "repository:a/b:pull|repository:c/d:pull" {
		t.Fatalf("scopes: %s", got)
	}
}

func TestTokenExpiredIsRenewed(t *testing.T) {
	fk := newFake(t, func(fk *fake) { fk.expiresIn = 60 })
	clk := newFakeClock()
	r, _ := newClockedRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL}, clk.now)
	f := func(after time.Duration, wantIssued int32) {
		t.Helper()
		clk.advance(after)
		get(t, r, "a", "manifests/1")
		if n := fk.issued.Load(); n != wantIssued {
			t.Fatalf("after %s: tokens issued %d, want %d", after, n, wantIssued)
		}
	}
	f(0, 1)
	f(53*time.Second, 1) // kept 54 s of the 60
	f(time.Second, 2)
}

func TestTokenTTL(t *testing.T) {
	f := func(expiresIn int64, want time.Duration) {
		t.Helper()
		if got := tokenTTL(expiresIn); got != want {
			t.Fatalf("tokenTTL(%d) = %s, want %s", expiresIn, got, want)
		}
	}
	f(0, 54*time.Second)
	f(-5, 54*time.Second)
	f(300, 290*time.Second)
	f(1, 900*time.Millisecond)
}

func TestBasicChallenge(t *testing.T) {
	var sawAuth atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sawAuth.Add(1)
	}))
	defer srv.Close()
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: srv.URL, Username: "u", Password: "p"})
	for range 2 {
		if status, _ := get(t, r, "x", "manifests/1"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	wrong, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: srv.URL, Username: "u", Password: "bad"})
	if status, _ := get(t, wrong, "x", "manifests/1"); status != 401 {
		t.Fatalf("wrong password: status %d", status)
	}
}

func TestRedirectAuthorization(t *testing.T) {
	var cdnAuth, selfAuth atomic.Value
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "blob bytes")
	}))
	defer cdn.Close()
	fk := newFake(t, func(fk *fake) {
		fk.serve = func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/blobs/sha256:cdn"):
				http.Redirect(w, r, cdn.URL+"/data?sig=1", http.StatusTemporaryRedirect)
			case strings.HasSuffix(r.URL.Path, "/blobs/sha256:self"):
				http.Redirect(w, r, "/v2/x/blobs/sha256:moved", http.StatusFound)
			default:
				selfAuth.Store(r.Header.Get("Authorization"))
				io.WriteString(w, "moved bytes")
			}
		}
	})
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL})
	hdr := http.Header{"Authorization": {"Basic Y2xpZW50OnNlY3JldA=="}} // a client's, never forwarded
	resp, err := r.Do(context.Background(), http.MethodGet, "x", "blobs/sha256:cdn", hdr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "blob bytes" || cdnAuth.Load() != "" {
		t.Fatalf("CDN: body %q, Authorization %q", b, cdnAuth.Load())
	}
	if _, body := get(t, r, "x", "blobs/sha256:self"); body != "moved bytes" || !strings.HasPrefix(selfAuth.Load().(string), "Bearer tok-") {
		t.Fatalf("same-origin redirect: body %q, Authorization %q", body, selfAuth.Load())
	}
}

// flaky answers 503 for the first `fail` requests, then 200.
func flaky(fail int32, calls *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/v2/x/manifests/missing":
			http.NotFound(w, r)
		default:
			io.WriteString(w, "ok")
		}
	}))
}

func TestRetries(t *testing.T) {
	f := func(method, path string, fail int32, wantStatus int, wantCalls int32, wantRetries string) {
		t.Helper()
		var calls atomic.Int32
		srv := flaky(fail, &calls)
		defer srv.Close()
		cfg := testConfig()
		cfg.Retries = 3
		r, set := newTestRegistry(t, cfg, RegistryOptions{URL: srv.URL})
		resp, err := r.Do(context.Background(), method, "x", path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != wantStatus || calls.Load() != wantCalls {
			t.Fatalf("%s %s: status %d after %d calls, want %d after %d", method, path, resp.StatusCode, calls.Load(), wantStatus, wantCalls)
		}
		if got := metric(set, `nora_upstream_retries_total{upstream="test"}`); got != wantRetries {
			t.Fatalf("retries metric %s, want %s", got, wantRetries)
		}
	}
	f("GET", "manifests/1", 2, 200, 3, "2")
	f("HEAD", "manifests/1", 1, 200, 2, "1")
	f("GET", "manifests/1", 9, 503, 4, "3") // gives up, the caller sees the 503
	f("GET", "manifests/missing", 0, 404, 1, "0")
	f("DELETE", "manifests/1", 2, 503, 1, "0") // not idempotent
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := testConfig()
	cfg.Retries = 2
	r, set := newTestRegistry(t, cfg, RegistryOptions{URL: url})
	_, err := r.Do(context.Background(), http.MethodGet, "x", "manifests/1", nil)
	if !IsUnavailable(err) || !strings.HasPrefix(err.Error(), "cannot GET x/manifests/1 from test") {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if got := metric(set, `nora_upstream_requests_total{upstream="test",status="error"}`); got != "3" {
		t.Fatalf("error requests %s, want 3", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Do(ctx, http.MethodGet, "x", "manifests/1", nil); !errors.Is(err, context.Canceled) || IsUnavailable(err) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestBreaker(t *testing.T) {
	var calls atomic.Int32
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.Retries = 0
	cfg.BreakerFailures = 3
	cfg.BreakerCooldown = 30 * time.Second
	clk := newFakeClock()
	r, set := newClockedRegistry(t, cfg, RegistryOptions{URL: srv.URL}, clk.now)
	gauge := func() string { return metric(set, `nora_upstream_breaker_open{upstream="test"}`) }

	do := func(wantStatus int, wantCalls int32) {
		t.Helper()
		resp, err := r.Do(context.Background(), http.MethodGet, "x", "manifests/1", nil)
		switch {
		case wantStatus == 0 && (!errors.Is(err, ErrBreakerOpen) || !IsUnavailable(err)):
			t.Fatalf("want breaker open (unavailable: callers serve stale), got %v", err)
		case wantStatus != 0 && err != nil:
			t.Fatal(err)
		case wantStatus != 0:
			resp.Body.Close()
			if resp.StatusCode != wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, wantStatus)
			}
		}
		if calls.Load() != wantCalls {
			t.Fatalf("upstream calls %d, want %d", calls.Load(), wantCalls)
		}
	}
	do(502, 1)
	do(502, 2)
	if gauge() != "0" {
		t.Fatalf("breaker gauge %s before opening", gauge())
	}
	do(502, 3) // third consecutive failure opens it
	do(0, 3)   // fails fast
	if gauge() != "1" {
		t.Fatalf("breaker gauge %s", gauge())
	}
	clk.advance(cfg.BreakerCooldown - time.Nanosecond)
	do(0, 3) // still cooling down
	clk.advance(time.Nanosecond)
	do(502, 4) // half-open trial fails: open again at once
	do(0, 4)
	clk.advance(cfg.BreakerCooldown)
	healthy.Store(true)
	do(200, 5) // trial succeeds: closed
	do(200, 6)
	if gauge() != "0" {
		t.Fatalf("breaker gauge %s after recovery", gauge())
	}
}

func TestBreakerSingleTrial(t *testing.T) {
	clk := newFakeClock()
	b := newBreaker(1, time.Second, discardLog(), metricsGauge(), clk.now)
	b.failure()
	clk.advance(time.Second)
	trial, ok := b.allow()
	if !trial || !ok {
		t.Fatal("first caller after cooldown must be the trial")
	}
	if _, ok := b.allow(); ok {
		t.Fatal("a second caller got through while the trial is in flight")
	}
	b.release(trial) // the trial's caller gave up
	if trial, ok := b.allow(); !trial || !ok {
		t.Fatal("after a released trial the next caller must be the trial")
	}
}

func TestRateLimitHeader(t *testing.T) {
	fk := newFake(t, nil)
	r, set := newTestRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL, Name: "hub"})
	if _, known := r.RateLimitRemaining(); known {
		t.Fatal("known before any response")
	}
	if metric(set, `nora_upstream_ratelimit_remaining{upstream="hub"}`) != "" {
		t.Fatal("gauge exported before any response")
	}
	get(t, r, "a", "manifests/1")
	if n, known := r.RateLimitRemaining(); n != 76 || !known {
		t.Fatalf("remaining %d %v, want 76", n, known)
	}
	if got := metric(set, `nora_upstream_ratelimit_remaining{upstream="hub"}`); got != "76" {
		t.Fatalf("gauge %q", got)
	}
	// bytes read through returned bodies are counted
	if got, want := metric(set, `nora_upstream_bytes_total{upstream="hub"}`), fmt.Sprint(len("content of /v2/a/manifests/1")); got != want {
		t.Fatalf("bytes %s, want %s", got, want)
	}
	if got := metric(set, `nora_upstream_requests_total{upstream="hub",status="4xx"}`); got != "1" {
		t.Fatalf("4xx requests %s, want the one 401", got)
	}
}

func TestParseRateLimitRemaining(t *testing.T) {
	f := func(in string, want int64, wantOK bool) {
		t.Helper()
		if got, ok := parseRateLimitRemaining(in); got != want || ok != wantOK {
			t.Fatalf("%q: %d %v, want %d %v", in, got, ok, want, wantOK)
		}
	}
	f("76;w=21600", 76, true)
	f("100", 100, true)
	f(" 0 ; w=60", 0, true)
	f("76;w=21600, 3;w=60", 3, true)
	f("", 0, false)
	f("many", 0, false)
	f("-1", 0, false)
	f("9223372036854775807", 0, false)
}

func TestBadRepo(t *testing.T) {
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: "http://127.0.0.1:1"})
	for _, repo := range []string{"../x", "a//b", "a/./b", "a?b", "a%2f"} {
		if _, err := r.Do(context.Background(), "GET", repo, "manifests/1", nil); err == nil || IsUnavailable(err) {
			t.Fatalf("%q: err = %v", repo, err)
		}
	}
}

func TestRegistryOptions(t *testing.T) {
	c := NewClient(testConfig(), nil, nil)
	for _, o := range []RegistryOptions{
		{Name: "", URL: "http://127.0.0.1:1"},
		{Name: "x", URL: "ftp://127.0.0.1"},
		{Name: "x", URL: "http://u:p@127.0.0.1"},
		{Name: "x", URL: "http://127.0.0.1", Realm: "::"},
	} {
		if _, err := c.Registry(o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
