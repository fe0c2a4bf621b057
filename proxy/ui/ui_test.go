package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/stats"
	"nora/upstream"
)

// serve answers one request of method to path with h, as visible allows.
func serve(h *Handler, method, path string, visible Visible) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	h.ServeFor(&ctx, visible)
	var r fasthttp.Response
	ctx.Response.CopyTo(&r)
	return &r
}

func all(string, string) bool { return true }

func newTestHandler(t *testing.T) (*Handler, *stats.Stats) {
	t.Helper()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	st, err := stats.New(stats.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ok, fail := now.Add(-2*time.Minute), now.Add(-30*time.Second)
	left := 87
	h, err := New(Options{
		Version: "v1.2.3",
		Formats: []string{"docker", "npm"},
		Disk: func(context.Context) (cache.Stats, error) {
			return cache.Stats{ProxiedBytes: 1_500_000_000, HostedBytes: 500_000_000, Objects: 42, MaxSize: 8_000_000_000, FreeBytes: -1}, nil
		},
		Upstreams: func() []upstream.Status {
			return []upstream.Status{
				{Name: "hub", Breaker: "closed", LastSuccess: &ok, RateLimitRemaining: &left},
				{Name: "quay", Breaker: "open", LastError: "dial tcp: connection refused", LastErrorAt: &fail, OpenedAt: &fail},
			}
		},
		Stats: st,
		Now:   func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, st
}

func TestOverviewShowsTheNumbers(t *testing.T) {
	h, st := newTestHandler(t)
	at := time.Date(2026, 12, 4, 11, 55, 0, 0, time.UTC)
	pull := func(repo, result string, n int64) {
		st.Observe(&httpx.Done{Start: at, Method: "GET", Path: "/v2/" + repo + "/manifests/1", Format: "docker",
			Repository: repo, Cache: result, Status: 200, Bytes: n})
	}
	pull("lib/app", "miss", 1_000_000)
	pull("lib/app", "hit", 1_000_000)
	pull("lib/app", "hit", 1_000_000)
	pull(`<script>alert(1)</script>`, "hit", 1_000_000)
	pull("team/secret", "hit", 0)
	st.Observe(&httpx.Done{Method: "GET", Path: "/npm/x/-/x-1.tgz", Format: "npm", Status: 502, Err: errors.New("upstream <b>down</b>")})

	resp := serve(h, "GET", "/ui/", func(_, name string) bool { return !strings.HasPrefix(name, "team/") })
	body := string(resp.Body())
	if resp.StatusCode() != 200 || string(resp.Header.ContentType()) != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", resp.StatusCode(), resp.Header.ContentType())
	}
	for _, want := range []string{
		"<title>Overview · nora</title>",
		`<p class="big" id="disk-used">2.00 GB</p>`,
		"used of the 8.00 GB cap (<span id=\"disk-ratio\">25.0 %</span>)",
		`<span class="big">80.0 %</span> of requests, 75.0 % of bytes`,
		"WAN bytes saved: <strong>3.00 MB</strong>; fetched from upstreams: 1.00 MB",
		`<li>lib/app <span class="muted">(3 pulls, 3.00 MB, last 5 minutes ago)</span></li>`,
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		`<th scope="row">hub</th><td class="ok">up</td><td>closed</td><td>2 minutes ago</td><td>none</td><td class="num">87</td>`,
		`<th scope="row">quay</th><td class="bad">down</td><td>open</td>`,
		"upstream &lt;b&gt;down&lt;/b&gt;",
		`<a href="/">start page</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "team/secret", "<b>down"} {
		if strings.Contains(body, bad) {
			t.Errorf("the overview shows %q", bad)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
	if csp := string(resp.Header.Peek("Content-Security-Policy")); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h, _ := newTestHandler(t)
	f := func(method, path string, status int, contentType string) {
		t.Helper()
		r := serve(h, method, path, all)
		if r.StatusCode() != status || !strings.HasPrefix(string(r.Header.ContentType()), contentType) {
			t.Errorf("%s %s: %d %s, want %d %s", method, path, r.StatusCode(), r.Header.ContentType(), status, contentType)
		}
		if method == "HEAD" && len(r.Body()) != 0 {
			t.Errorf("HEAD %s has a body", path)
		}
	}
	f("GET", "/ui/", 200, "text/html")
	f("HEAD", "/ui/", 200, "text/html")
	f("GET", "/ui/upstreams", 200, "text/html")
	f("GET", "/ui/errors", 200, "text/html")
	f("GET", "/ui/style.css", 200, "text/css")
	f("GET", "/ui/nope", 404, "text/html")
	f("POST", "/ui/", 405, "text/plain")
}

func TestHuman(t *testing.T) {
	b := func(n int64, want string) {
		t.Helper()
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	b(0, "0 B")
	b(999, "999 B")
	b(1000, "1.00 kB")
	b(15_300, "15.3 kB")
	b(999_999, "1.00 MB")
	b(123_456_789, "123 MB")
	b(8_000_000_000, "8.00 GB")
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a := func(d time.Duration, want string) {
		t.Helper()
		if got := Ago(now.Add(-d), now); got != want {
			t.Errorf("Ago(%v) = %q, want %q", d, got, want)
		}
	}
	a(time.Second, "1 second ago")
	a(90*time.Second, "1 minute ago")
	a(3*time.Hour, "3 hours ago")
	a(72*time.Hour, "3 days ago")
	if Ago(time.Time{}, now) != "never" || Percent(0.5, true) != "50.0 %" || Percent(0, false) != "no data" {
		t.Error("never, 50.0 %, no data")
	}
}
