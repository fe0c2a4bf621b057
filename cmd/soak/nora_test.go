package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The login the soak pushes and publishes with.
const (
	soakUser     = "soak"
	soakPassword = "soak-password"
)

// noraProc is nora serve as a child process, killed with SIGKILL and
// restarted at once on the same data, as systemd's Restart=always does.
type noraProc struct {
	bin, config, addr, logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	kills   int
	slowest time.Duration // of the restarts, kill to healthy
}

// buildNora builds the nora binary under test as make build does
// (static, stripped), and without -race: it is the system under test,
// not the test, and its memory is measured.
func buildNora(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "nora")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "nora/cmd/nora")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nora: %v\n%s", err, out)
	}
	return bin
}

func startNora(t *testing.T, bin string, u *upstreams) *noraProc {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(soakPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(soakUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config := fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[docker]
hosted_names = ["soak/**"]
[[docker.upstreams]]
name = "docker.io"
url = %q
[npm]
upstream = %q
ttl = "10s"
hosted_names = ["@soak/*"]
[pypi]
upstream = %q
ttl = "10s"
[[maven.upstreams]]
url = %q
[maven]
ttl = "10s"
[cargo]
index = %q
ttl = "10s"
[auth]
htpasswd = %q
[gc]
schedule = ""
`, addr, filepath.Join(dir, "data"), u.dockerURL, u.npmURL, u.pypiURL, u.mavenURL, u.cargoURL, htpasswd)
	p := &noraProc{bin: bin, config: filepath.Join(dir, "nora.toml"), addr: addr, logPath: filepath.Join(dir, "nora.log")}
	if err := os.WriteFile(p.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stop()
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			return
		}
		// SOAK_LOG=FILE keeps nora's whole log, every process's, after
		// the temp dir is gone.
		if keep := os.Getenv("SOAK_LOG"); keep != "" {
			if err := os.WriteFile(keep, b, 0o600); err != nil {
				t.Errorf("SOAK_LOG: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("nora's log, last 4 KiB:\n%s", b[max(0, len(b)-4096):])
		}
	})
	return p
}

// start runs nora and waits for /health. Callers hold mu, or own p.
func (p *noraProc) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(p.bin, "serve", "--config", p.config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + p.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("nora exited before it was healthy (log %s)", p.logPath)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nora not healthy within 30s: %v", err)
		}
	}
}

func (p *noraProc) stop() {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// kill9 kills nora with SIGKILL and starts it again on the same data.
func (p *noraProc) kill9() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	began := time.Now()
	p.stop()
	p.kills++
	err := p.start()
	p.slowest = max(p.slowest, time.Since(began))
	return err
}

func (p *noraProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// killed is the number of kills so far and the slowest restart.
func (p *noraProc) killed() (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills, p.slowest
}

func (p *noraProc) base() string { return "http://" + strings.TrimSpace(p.addr) }
