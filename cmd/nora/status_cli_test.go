package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"nora/cache"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// runCLI runs nora with args and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

// waitCLI runs nora with args until it exits with want and its output
// contains says.
func waitCLI(t *testing.T, want int, says string, args ...string) (string, string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, stdout, stderr := runCLI(args...)
		if code == want && strings.Contains(stdout+stderr, says) {
			return stdout, stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nora %s: exit %d, want %d; stdout %q, stderr %q", strings.Join(args, " "), code, want, stdout, stderr)
		}
	}
}

func TestReadyURL(t *testing.T) {
	f := func(listen, base, want string) {
		t.Helper()
		path := writeConfig(t, fmt.Sprintf("[server]\nlisten = %q\n", listen))
		got, _, err := readyURL(path, base, nil)
		if err != nil || got != want {
			t.Errorf("readyURL(listen %q, --url %q) = %q, %v; want %q", listen, base, got, err, want)
		}
	}
	f("0.0.0.0:4000", "", "http://127.0.0.1:4000/ready")
	f("[::]:4000", "", "http://127.0.0.1:4000/ready")
	f(":4000", "", "http://127.0.0.1:4000/ready")
	f("10.1.2.3:80", "", "http://10.1.2.3:80/ready")
	f("[::1]:4000", "", "http://[::1]:4000/ready")
	f("0.0.0.0:4000", "http://nora.test:8080", "http://nora.test:8080/ready")
	f("0.0.0.0:4000", "https://nora.test/base/", "https://nora.test/base/ready")
	if _, _, err := readyURL("", "nora.test:4000", nil); err == nil {
		t.Error("--url without a scheme was accepted")
	}
}

// TestHealthcheckProcess runs nora healthcheck against a nora process
// listening on all interfaces, then against none.
func TestHealthcheckProcess(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	config := fmt.Sprintf("[server]\nlisten = \"0.0.0.0:%s\"\n[storage]\npath = %q\n", port, t.TempDir())
	path := writeConfig(t, config)
	p := startProcess(t, config)
	stdout, _ := waitCLI(t, 0, "ready", "healthcheck", "--config", path)
	if stdout != "ready\n" {
		t.Fatalf("healthcheck: stdout %q", stdout)
	}
	p.kill()
	code, stdout, stderr := runCLI("healthcheck", "--config", path)
	want := "cannot reach nora at http://127.0.0.1:" + port + "/ready: "
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("healthcheck of a stopped nora: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestHealthcheckTLS: with [server.tls] mode = "auto" (the packaged
// config), healthcheck and status speak HTTPS to the listener and trust it
// by the site CA in the storage path.
func TestHealthcheckTLS(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	config := fmt.Sprintf("[server]\nlisten = \"0.0.0.0:%s\"\n[server.tls]\nmode = \"auto\"\n[storage]\npath = %q\n", port, t.TempDir())
	path := writeConfig(t, config)
	startProcess(t, config)
	if stdout, _ := waitCLI(t, 0, "ready", "healthcheck", "--config", path); stdout != "ready\n" {
		t.Fatalf("healthcheck: stdout %q", stdout)
	}
	if stdout, _ := waitCLI(t, 0, "https://127.0.0.1:"+port, "status", "--config", path); !strings.Contains(stdout, "ready") {
		t.Fatalf("status: stdout %q", stdout)
	}
}

// TestHealthcheckNotReady: storage below min_free makes /ready 503 and the
// healthcheck exit 1 saying why.
func TestHealthcheckNotReady(t *testing.T) {
	cfg := proxy.AppConfig{Storage: cache.DefaultConfig()}
	cfg.Storage.Path = t.TempDir()
	cfg.Storage.MinFree = units.Size(1 << 62)
	n := proxytest.Start(t, cfg)
	_, stderr := waitCLI(t, 1, "min_free", "healthcheck", "--url", n.URL)
	if !strings.HasPrefix(stderr, "not ready: 503 unavailable (storage: ") || !strings.Contains(stderr, "min_free") {
		t.Fatalf("healthcheck: stderr %q", stderr)
	}
	code, stdout, stderr := runCLI("status", "--url", n.URL)
	if code != 1 || !strings.Contains(stdout, "storage: FAILING: ") || stderr != "not ready (unavailable)\n" {
		t.Fatalf("status: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestStatus(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "hub", URL: up.URL}}
	n := proxytest.Start(t, cfg)
	stdout, _ := waitCLI(t, 0, "", "status", "--json", "--url", n.URL)
	var v struct {
		Status    string `json:"status"`
		CheckedAt string `json:"checked_at"`
		Storage   struct {
			FreeBytes  *int64 `json:"free_bytes"`
			TotalBytes *int64 `json:"total_bytes"`
			MinFree    *int64 `json:"min_free"`
		} `json:"storage"`
		Upstreams []map[string]any `json:"upstreams"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if v.Status != "ready" || v.CheckedAt == "" || v.Storage.FreeBytes == nil || v.Storage.TotalBytes == nil ||
		v.Storage.MinFree == nil || len(v.Upstreams) != 1 ||
		v.Upstreams[0]["name"] != "hub" || v.Upstreams[0]["breaker"] != "closed" {
		t.Fatalf("status --json:\n%s", stdout)
	}
	code, stdout, stderr := runCLI("status", "--url", n.URL)
	if code != 0 || stderr != "" {
		t.Fatalf("status: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"nora at " + n.URL + ": ready (checked ", "\nstorage: ok\n  free ",
		"UPSTREAM", "\nhub ", " closed "} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("status lacks %q:\n%s", want, stdout)
		}
	}
}
