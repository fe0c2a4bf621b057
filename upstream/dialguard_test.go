package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"8.8.4.4", true}, {"1.1.1.1", true}, {"2001:4860:4860::8888", true},
		{"127.0.0.1", false}, {"127.0.0.2", false}, {"::1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fd00:ec2::254", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false}, {"fc00::1", false},
		{"100.64.0.1", false}, {"100.127.255.254", false}, {"0.0.0.0", false}, {"::", false},
		{"0.1.2.3", false}, {"224.0.0.1", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:169.254.169.254", false}, {"::127.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"2002:a00:1::", false}, {"198.18.0.1", false},
	} {
		if got := publicAddr(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("publicAddr(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

// hostileServer listens on addr and counts the requests it gets: a dial
// the guard lets through shows up here.
func hostileServer(t *testing.T, network, addr string) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	var hits atomic.Int64
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"token":"stolen"}`)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// TestDialGuardRefusesUnconfigured: links to loopback hosts, link-local,
// private and shared addresses, and names that resolve to loopback, are
// refused unless the configuration named that host; a refusal is not an
// outage (no retry, the breaker does not count it).
func TestDialGuardRefusesUnconfigured(t *testing.T) {
	other, hits := hostileServer(t, "tcp4", "127.0.0.2:0")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(other, "http://"))
	local, hitsLocal := hostileServer(t, "tcp4", "127.0.0.1:0")
	_, localPort, _ := net.SplitHostPort(strings.TrimPrefix(local, "http://"))
	v6, hits6 := hostileServer(t, "tcp6", "[::1]:0")
	// The configured upstream is on 127.0.0.3: 127.0.0.1, where
	// "localhost" points, is not configured here.
	l, err := net.Listen("tcp4", "127.0.0.3:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.3: %v", err)
	}
	up := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other+"/blob", http.StatusTemporaryRedirect)
			return
		}
		fmt.Fprint(w, "ok")
	})}}
	up.Start()
	defer up.Close()
	cfg := testConfig()
	cfg.BreakerFailures = 1
	r, set := newTestRegistry(t, cfg, RegistryOptions{URL: up.URL})
	for _, target := range []string{
		other + "/x", v6 + "/x", "http://localhost:" + localPort + "/x", "http://LocalHost:" + localPort + "/x",
		"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "http://100.64.0.1/x",
		"http://[::ffff:127.0.0.2]:" + port + "/x", "http://0.0.0.0:" + port + "/x",
		up.URL + "/redirect",
	} {
		resp, err := r.DoURL(context.Background(), http.MethodGet, target, nil)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s: status %d, want refused", target, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("GET %s: %v, want ErrPrivateAddress", target, err)
		}
		if IsUnavailable(err) || r.Status().Breaker != "closed" {
			t.Errorf("GET %s: a refusal counted as an outage: %v", target, err)
		}
	}
	if n := hits.Load() + hits6.Load() + hitsLocal.Load(); n != 0 {
		t.Fatalf("hostile servers got %d requests", n)
	}
	if n := metric(set, `nora_upstream_retries_total{upstream="test"}`); n != "0" {
		t.Fatalf("refusals were retried: %s retries", n)
	}

	// The configured host on another port is configured: the rule is by
	// host, so that a token server or a file server beside it works.
	bl, err := net.Listen("tcp4", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	beside := &httptest.Server{Listener: bl, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })}}
	beside.Start()
	defer beside.Close()
	resp, err := r.DoURL(context.Background(), http.MethodGet, beside.URL+"/x", nil)
	if err != nil {
		t.Fatalf("GET beside the configured host: %v", err)
	}
	resp.Body.Close()
	// A decimal host that a C resolver would read as 127.0.0.2 either does
	// not resolve or is refused.
	if resp, err = r.DoURL(context.Background(), http.MethodGet, "http://2130706434:"+port+"/x", nil); err == nil {
		resp.Body.Close()
		t.Error("a decimal loopback host was fetched")
	}
	if hits.Load() != 0 {
		t.Fatal("a decimal loopback host was fetched")
	}
}

// TestDialGuardTokenRealm: a challenge naming a realm on a host that is
// not configured gets no request; the configured realm does.
func TestDialGuardTokenRealm(t *testing.T) {
	other, hits := hostileServer(t, "tcp4", "127.0.0.2:0")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("Www-Authenticate", `Bearer realm="`+other+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: up.URL, Username: "u", Password: "p"})
	resp, err := r.Do(context.Background(), http.MethodGet, "a/b", "manifests/1", nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want the upstream's 401", resp.StatusCode)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the token realm on a host not configured got a request")
	}

	// Configured as the realm, the same host is allowed.
	r2, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: up.URL, Realm: other + "/token", Username: "u", Password: "p"})
	resp, err = r2.Do(context.Background(), http.MethodGet, "a/b", "manifests/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() == 0 {
		t.Fatalf("status %d, realm hits %d: the configured realm was not used", resp.StatusCode, hits.Load())
	}
}

// TestDialGuardDiscovered: a registry made from a URL an upstream gave
// (cargo's dl) does not make its host trusted.
func TestDialGuardDiscovered(t *testing.T) {
	other, hits := hostileServer(t, "tcp4", "127.0.0.2:0")
	c := NewClient(testConfig(), slog.New(slog.DiscardHandler), nil)
	r, err := c.Registry(RegistryOptions{Name: "dl", URL: other, Discovered: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := r.DoURL(context.Background(), http.MethodGet, "/crate", nil); !errors.Is(err, ErrPrivateAddress) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("discovered loopback dl: %v, want ErrPrivateAddress", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the discovered host got a request")
	}
	// A configured name is trusted as written.
	r2, err := c.Registry(RegistryOptions{Name: "local", URL: strings.Replace(other, "127.0.0.2", "localhost", 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = r2
	if !c.guard.trusted("LOCALHOST.") || c.guard.trusted("127.0.0.2") {
		t.Fatal("trust is by the configured host as written")
	}
	// A configured IP literal is trusted when a name resolves to it.
	c.guard.allow("http://127.0.0.1:1")
	if ips, err := c.guard.publicAddrs(context.Background(), "tcp", "localhost"); err != nil || len(ips) == 0 {
		t.Fatalf("localhost with 127.0.0.1 configured: %v %v", ips, err)
	}
}

// FuzzDialGuardLiteral: whatever an upstream writes as a link's host, an
// IP literal passes the guard only as a public address or as one the
// configuration names (here 127.0.0.1), and comparing hosts is stable.
func FuzzDialGuardLiteral(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.0.0.2", "[::1]", "::ffff:127.0.0.1", "169.254.169.254", "0x7f.1",
		"10.0.0.1", "fe80::1%25lo", "8.8.8.8", "LOCALHOST.", "[::ffff:10.0.0.1]", "2130706433", "100.64.0.1", "::"} {
		f.Add(s)
	}
	g := newDialGuard(&net.Dialer{})
	g.allow("http://127.0.0.1:5000")
	f.Fuzz(func(t *testing.T, host string) {
		if n := normalHost(host); normalHost(n) != n {
			t.Fatalf("normalHost(%q) = %q, again %q", host, n, normalHost(n))
		}
		ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil {
			return // a name: resolved at dial time, not here
		}
		ips, err := g.publicAddrs(context.Background(), "tcp", host)
		if err != nil {
			if publicAddr(ip) || ip.Unmap() == netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("%q refused: %v", host, err)
			}
			return
		}
		for _, a := range ips {
			if !publicAddr(a) && a != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("%q let %s through", host, a)
			}
		}
	})
}

// TestDialGuardProxy: through a proxy from the environment nora dials
// only the proxy, so a target that is not public and not configured is
// refused before the proxy is asked; others go to the proxy.
func TestDialGuardProxy(t *testing.T) {
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Host)
		fmt.Fprint(w, "via proxy")
	}))
	defer proxy.Close()
	c := NewClient(testConfig(), slog.New(slog.DiscardHandler), nil)
	pu, _ := url.Parse(proxy.URL)
	c.guard.fromEnv = func(*http.Request) (*url.URL, error) { return pu, nil }
	r, err := c.Registry(RegistryOptions{Name: "up", URL: "http://registry.test"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.DoURL(context.Background(), http.MethodGet, "/x", nil)
	if err != nil {
		t.Fatalf("configured host through the proxy: %v", err)
	}
	resp.Body.Close()
	for _, target := range []string{"http://169.254.169.254/latest", "http://127.0.0.2/x", "http://[fd00::1]/x"} {
		if resp, err := r.DoURL(context.Background(), http.MethodGet, target, nil); !errors.Is(err, ErrPrivateAddress) {
			if err == nil {
				resp.Body.Close()
			}
			t.Errorf("GET %s through the proxy: %v, want ErrPrivateAddress", target, err)
		}
	}
	if len(asked) != 1 || asked[0] != "registry.test" {
		t.Fatalf("the proxy was asked for %v, want only registry.test", asked)
	}
}
