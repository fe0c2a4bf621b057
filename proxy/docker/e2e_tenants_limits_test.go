package docker_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth/tenant"
	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

// TestTenantPullRateLimit: team-a may pull 3 times an hour. The fourth
// pull is answered 429 TOOMANYREQUESTS with Retry-After, while team-b is
// served; once the tenants' clock has moved by Retry-After, team-a is
// served again.
func TestTenantPullRateLimit(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	a := up.PushRandomImage(t, "team-a/app", "1", 1, 1024)
	b := up.PushRandomImage(t, "team-b/app", "1", 1, 1024)
	clock := newTestClock()
	n := startNora(t, options{
		noHtpasswd:  true,
		upstreams:   []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		tenantClock: clock.Now,
		tenants: []tenant.Config{
			{Name: "team-a", Prefixes: []string{"team-a/**"}, RateLimit: tenant.RateLimit{Pull: 3}},
			{Name: "team-b", Prefixes: []string{"team-b/**"}, RateLimit: tenant.RateLimit{Pull: 3}},
		},
	})
	c := newCLI(t, n.Addr, "", "")
	manifestURL := n.url("/v2/team-a/app/manifests/" + digestOf(t, a))

	// crane manifest is one counted request (the ping is not a pull of a
	// repository); two more by hand spend the hour's three.
	if got := c.mustCrane("digest", n.Addr+"/team-a/app:1"); got != digestOf(t, a) {
		t.Fatalf("crane digest = %s", got)
	}
	for i := range 2 {
		if resp, body := do(t, "GET", manifestURL, "", "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("pull %d of 3: %d %s", i+2, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "GET", manifestURL, "", "", nil, nil)
	wantError(t, "the fourth pull within the hour", 429, "TOOMANYREQUESTS", resp.StatusCode, body)
	if !strings.Contains(string(body), "team-a") {
		t.Fatalf("the refusal does not name the tenant: %s", body)
	}
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 3600 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp, _ := do(t, "HEAD", manifestURL, "", "", nil, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HEAD past the limit: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// team-b has a limit of its own, untouched.
	if got := c.mustCrane("digest", n.Addr+"/team-b/app:1"); got != digestOf(t, b) {
		t.Fatalf("team-b: crane digest = %s", got)
	}

	clock.Add(time.Duration(wait-1) * time.Second)
	if resp, _ := do(t, "GET", manifestURL, "", "", nil, nil); resp.StatusCode != 429 {
		t.Fatalf("a second before Retry-After: %d, want 429", resp.StatusCode)
	}
	clock.Add(time.Second)
	if got := c.mustCrane("digest", n.Addr+"/team-a/app:1"); got != digestOf(t, a) {
		t.Fatalf("after Retry-After: crane digest = %s", got)
	}
	_, metrics := getBody(t, n.URL+"/metrics")
	if !strings.Contains(metrics, `nora_tenant_rate_limited_total{tenant="team-a"} 3`) {
		t.Fatalf("rate-limited requests not counted:\n%s", grepLines(metrics, "nora_tenant_rate_limited_total"))
	}
}

// grepLines are the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTenantUpstreamBudget: the upstream says 6 pulls are left; team-a,
// team-b and the default tenant share them by weight 1:1:1. Once team-a
// spent its share of cold manifest GETs it gets 429 for another cold one,
// which never reaches the upstream, while its cached manifests are served
// and team-b still fetches.
func TestTenantUpstreamBudget(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if w.Header().Get("Ratelimit-Remaining") != "" {
			w.Header().Set("Ratelimit-Remaining", "6;w=21600")
		}
		return false
	})
	imgs := map[string]string{}
	for _, repo := range []string{"library/warm", "team-a/one", "team-a/two", "team-a/three", "team-b/one"} {
		imgs[repo] = digestOf(t, up.PushRandomImage(t, repo, "1", 1, 512))
	}
	n := startNora(t, options{
		noHtpasswd: true,
		upstreams:  []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		tenants: []tenant.Config{
			{Name: "team-a", Prefixes: []string{"team-a/**"}, Weight: 1},
			{Name: "team-b", Prefixes: []string{"team-b/**"}, Weight: 1},
		},
	})
	c := newCLI(t, n.Addr, "", "")
	pull := func(repo, ref string) (*http.Response, []byte) {
		t.Helper()
		return do(t, "GET", n.url("/v2/"+repo+"/manifests/"+ref), "", "", map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, nil)
	}
	// Until an upstream answer said how many pulls are left, nothing is
	// shared: the default tenant's first pull teaches nora the budget.
	if resp, body := pull("warm", "1"); resp.StatusCode != 200 {
		t.Fatalf("warm-up pull: %d %s", resp.StatusCode, body)
	}
	// team-a's share of 6 is 2: one by tag, one by digest.
	if got := c.mustCrane("digest", n.Addr+"/team-a/one:1"); got != imgs["team-a/one"] {
		t.Fatalf("team-a/one: %s", got)
	}
	if resp, body := pull("team-a/two", imgs["team-a/two"]); resp.StatusCode != 200 {
		t.Fatalf("team-a/two by digest: %d %s", resp.StatusCode, body)
	}
	for _, ref := range []string{"1", imgs["team-a/three"]} {
		resp, body := pull("team-a/three", ref)
		wantError(t, "team-a past its share, "+ref, 429, "TOOMANYREQUESTS", resp.StatusCode, body)
		if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "team-a") {
			t.Fatalf("refusal of %s: Retry-After %q, %s", ref, resp.Header.Get("Retry-After"), body)
		}
	}
	if got := up.ManifestGets("team-a/three", "1") + up.ManifestGets("team-a/three", imgs["team-a/three"]); got != 0 {
		t.Fatalf("the upstream was asked for team-a/three %d times", got)
	}
	// Cached content keeps being served: a tag (revalidated by a HEAD,
	// which is no pull) and a digest.
	if got := c.mustCrane("digest", n.Addr+"/team-a/one:1"); got != imgs["team-a/one"] {
		t.Fatalf("cached team-a/one: %s", got)
	}
	if resp, body := pull("team-a/two", imgs["team-a/two"]); resp.StatusCode != 200 || digest.FromBytes(body).String() != imgs["team-a/two"] {
		t.Fatalf("cached team-a/two: %d %s", resp.StatusCode, body)
	}
	if got := c.mustCrane("digest", n.Addr+"/team-b/one:1"); got != imgs["team-b/one"] {
		t.Fatalf("team-b/one: %s", got)
	}
}

// TestAnonymousPullRateLimit: [server] rate_limit = 2 lets one address
// pull anonymously twice a minute: the third is 429 TOOMANYREQUESTS with
// Retry-After, a logged-in user is served meanwhile, and after Retry-After
// the address is served again.
func TestAnonymousPullRateLimit(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/app", "1", 1, 1024)
	clock := newTestClock()
	n := startNora(t, options{
		upstreams:   []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}},
		tenantClock: clock.Now,
		rateLimit:   2,
	})
	url := n.url("/v2/app/manifests/" + digestOf(t, img))
	for i := range 2 {
		if resp, body := do(t, "GET", url, "", "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("anonymous pull %d of 2: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "GET", url, "", "", nil, nil)
	wantError(t, "the third anonymous pull within the minute", 429, "TOOMANYREQUESTS", resp.StatusCode, body)
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 60 || !strings.Contains(string(body), "anonymous") {
		t.Fatalf("Retry-After %q, %s", resp.Header.Get("Retry-After"), body)
	}
	// The catalog is a pull like any other.
	resp, body = do(t, "GET", n.url("/v2/_catalog"), "", "", nil, nil)
	wantError(t, "the catalog past the limit", 429, "TOOMANYREQUESTS", resp.StatusCode, body)
	c := newCLI(t, n.Addr, testUser, testPass)
	if got := c.mustCrane("digest", n.Addr+"/app:1"); got != digestOf(t, img) {
		t.Fatalf("logged-in pull: %s", got)
	}
	clock.Add(time.Duration(wait) * time.Second)
	if got := newCLI(t, n.Addr, "", "").mustCrane("digest", n.Addr+"/app:1"); got != digestOf(t, img) {
		t.Fatalf("anonymous pull after Retry-After: %s", got)
	}
}
