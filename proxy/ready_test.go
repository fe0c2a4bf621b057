package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream"
	"nora/upstream/upstreamtest"
)

// readyBody is the /ready JSON the README documents.
type readyBody struct {
	Status    string            `json:"status"`
	Failing   map[string]string `json:"failing"`
	CheckedAt time.Time         `json:"checked_at"`
	Storage   cache.Stats       `json:"storage"`
	Upstreams []upstream.Status `json:"upstreams"`
}

func getReady(t *testing.T, n *proxytest.Nora) (int, readyBody) {
	t.Helper()
	resp, err := http.Get(n.URL + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v readyBody
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("/ready: %v: %s", err, b)
	}
	return resp.StatusCode, v
}

// waitReady polls /ready (answered from the background round, every 5 s)
// until cond holds.
func waitReady(t *testing.T, n *proxytest.Nora, what string, cond func(int, readyBody) bool) (int, readyBody) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, v := getReady(t, n)
		if cond(code, v) {
			return code, v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for /ready to show %s: %d %+v", what, code, v)
		}
	}
}

// TestReadyReportsOpenBreaker: an upstream whose breaker is open shows in
// /ready, which stays 200 because upstreams do not gate readiness.
func TestReadyReportsOpenBreaker(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "library/app", "1", 1, 1024)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "hub", URL: up.URL}}
	// A long cooldown keeps the breaker open while the test looks.
	tuning := proxytest.Upstream()
	tuning.BreakerCooldown = time.Minute
	cfg.Upstream = &tuning
	n := proxytest.Start(t, cfg)

	if resp, _ := get(t, n.URL+"/v2/library/app/manifests/1"); resp.StatusCode != 200 {
		t.Fatalf("pull: %d", resp.StatusCode)
	}
	_, v := waitReady(t, n, "the success", func(_ int, v readyBody) bool {
		return len(v.Upstreams) == 1 && v.Upstreams[0].LastSuccess != nil
	})
	if u := v.Upstreams[0]; u.Name != "hub" || u.Breaker != "closed" || u.LastError != "" {
		t.Fatalf("healthy upstream: %+v", u)
	}
	if v.Status != "ready" || v.Storage.TotalBytes <= 0 {
		t.Fatalf("/ready: %+v", v)
	}

	up.Stop()
	for i := 0; i < 10; i++ {
		get(t, n.URL+"/v2/library/app/manifests/never-pulled")
	}
	code, v := waitReady(t, n, "the open breaker", func(_ int, v readyBody) bool {
		return len(v.Upstreams) == 1 && v.Upstreams[0].Breaker == "open"
	})
	u := v.Upstreams[0]
	if code != 200 || v.Status != "ready" || len(v.Failing) != 0 {
		t.Fatalf("an open breaker gated /ready: %d %+v", code, v)
	}
	if u.OpenedAt == nil || u.LastError == "" || u.LastErrorAt == nil || u.LastSuccess == nil ||
		u.LastErrorAt.Before(*u.LastSuccess) {
		t.Fatalf("open upstream: %+v", u)
	}
}

// TestReadyStorageGates: storage below min_free answers 503 naming it.
func TestReadyStorageGates(t *testing.T) {
	cfg := proxy.AppConfig{Storage: cache.DefaultConfig()}
	cfg.Storage.Path = t.TempDir()
	cfg.Storage.MinFree = units.Size(1 << 62)
	n := proxytest.Start(t, cfg)
	code, v := waitReady(t, n, "storage failing", func(code int, v readyBody) bool {
		return code == 503 && strings.Contains(v.Failing["storage"], "below min_free")
	})
	if v.Status != "unavailable" || v.Storage.MinFree != 1<<62 {
		t.Fatalf("/ready below min_free: %d %+v", code, v)
	}
}
