package proxy_test

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/proxytest"
)

// startLoop runs two noras whose docker and npm upstreams are each other.
// The first reaches the second through a forwarder, as its port is known
// only once it runs.
func startLoop(t *testing.T) (a, b *proxytest.Nora, logA, logB *proxytest.Log) {
	t.Helper()
	var target atomic.Pointer[url.URL]
	fwd := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target.Load())
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(fwd.Close)
	loopCfg := func(up string) proxy.AppConfig {
		cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), Npm: npm.DefaultConfig()}
		cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up}}
		cfg.Npm.Upstream = up + "/npm/"
		return cfg
	}
	logA, logB = &proxytest.Log{}, &proxytest.Log{}
	a = proxytest.StartLogged(t, loopCfg(fwd.URL), logA.Logger())
	b = proxytest.StartLogged(t, loopCfg(a.URL), logB.Logger())
	u, _ := url.Parse(b.URL)
	target.Store(u)
	return a, b, logA, logB
}

// Two noras configured as each other's upstream: a cold pull ends with an
// error instead of going round for ever, and the nora that saw its own id
// come back logs the loop.
func TestHubLoopDetected(t *testing.T) {
	a, _, logA, logB := startLoop(t)
	for _, path := range []string{"/v2/library/alpine/manifests/3.20", "/npm/left-pad"} {
		resp, body := get(t, a.URL+path)
		t.Logf("GET %s through a loop: %d %s", path, resp.StatusCode, body)
		if resp.StatusCode < 500 {
			t.Errorf("GET %s through a loop: %d, want an error\n%s", path, resp.StatusCode, body)
		}
	}
	if logs := logA.String() + logB.String(); !strings.Contains(logs, "request loop detected") {
		t.Errorf("no loop in the logs:\n%s", logs)
	}
}
