package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/proxy/proxytest"
)

// statusKB reads a "VmRSS"/"VmHWM" line of /proc/<pid>/status in KiB.
func statusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// The probe that found the hole: with the default limits, anonymous
// reads, an htpasswd file, upstreams unreachable and max_conns = 50, 64
// anonymous clients each send 2 MiB of a 3 MiB npm audit and then trickle
// a byte every few seconds. nora must keep its memory bounded (only
// max_buffered_bodies such bodies are held; the others get 503 at once)
// and /health must keep answering.
func TestAuditBodiesCannotExhaust(t *testing.T) {
	const (
		clients  = 64
		declared = 3 << 20
		sent     = 2 << 20
		maxRSS   = 64 << 10 // KiB
	)
	dead := freeAddr(t) // nothing listens: every upstream is unreachable
	config := fmt.Sprintf(`[server]
listen = %q
max_conns = 50
[storage]
path = %q
[[docker.upstreams]]
name = "docker.io"
url = "http://%s"
[npm]
upstream = "http://%s"
[pypi]
upstream = "http://%s/simple/"
[[maven.upstreams]]
url = "http://%s/maven2"
[cargo]
index = "http://%s/index/"
[auth]
anonymous_read = true
htpasswd = %q
`, freeAddr(t), t.TempDir(), dead, dead, dead, dead, dead, proxytest.Htpasswd(t, "ci", "s3cret"))
	var p *noraProcess
	if raceEnabled {
		// The race detector's shadow memory would count in RSS.
		p = startBuilt(t, config)
	} else {
		p = startProcess(t, config)
	}
	pid := p.cmd.Process.Pid
	idle := statusKB(t, pid, "VmRSS")

	stop := make(chan struct{})
	var wg, started sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	head := fmt.Sprintf("POST /npm/-/npm/v1/security/audits/quick HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", p.addr, declared)
	for range clients {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				started.Done()
				return
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, err = c.Write(append([]byte(head), make([]byte, sent)...))
			started.Done()
			for err == nil {
				select {
				case <-stop:
					return
				case <-time.After(3 * time.Second):
				}
				_, err = c.Write([]byte{' '})
			}
		}()
	}
	started.Wait()

	// While they hold on: RSS stays bounded, /health answers.
	health := &http.Client{Timeout: 5 * time.Second}
	peak := 0
	for i := range 20 {
		peak = max(peak, statusKB(t, pid, "VmRSS"))
		if i%2 == 0 {
			resp, err := health.Get("http://" + p.addr + "/health")
			if err != nil {
				t.Fatalf("/health while slow audits hold on: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/health while slow audits hold on: %d", resp.StatusCode)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	hwm := statusKB(t, pid, "VmHWM")
	t.Logf("RSS idle %d KiB, peak while held %d KiB, high-water %d KiB", idle, peak, hwm)
	if hwm > maxRSS {
		t.Fatalf("nora's RSS reached %d KiB with %d slow audit clients (idle: %d KiB), want at most %d KiB", hwm, clients, idle, maxRSS)
	}
}

// startBuilt is startProcess with a nora built without -race.
func startBuilt(t *testing.T, config string) *noraProcess {
	t.Helper()
	return runProcess(t, buildNora(t), nil, config)
}

func TestBodyLimitKeys(t *testing.T) {
	cfg, err := parseConfig("nora.toml", []byte("[server]\nbody_min_rate = \"16KiB\"\nbody_grace = \"10s\"\n"+
		"buffered_body_timeout = \"0\"\nmax_buffered_bodies = 2\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Server; s.BodyMinRate != 16<<10 || s.BodyGrace.D() != 10*time.Second || s.BufferedBodyTimeout != 0 || s.MaxBufferedBodies != 2 {
		t.Fatalf("parsed %+v", s)
	}
	_, err = parseConfig("nora.toml", []byte("[server]\nmax_buffered_bodies = 0\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "nora.toml:2: server.max_buffered_bodies: want at least 1, got 0") {
		t.Fatalf("max_buffered_bodies = 0: %v", err)
	}
}
