package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"nora/cache"
	"nora/upstream/upstreamtest"
)

// The test binary doubles as the nora binary: with NORATEST_MAIN set it
// runs main, so process-level tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("NORATEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type noraProcess struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startProcess runs nora serve with config as a child process and waits for
// /health.
func startProcess(t testing.TB, config string) *noraProcess {
	t.Helper()
	return runProcess(t, os.Args[0], append(os.Environ(), "NORATEST_MAIN=1"), config)
}

// runProcess runs bin serve with config and env (nil: this process's) and
// waits for /health.
func runProcess(t testing.TB, bin string, env []string, config string) *noraProcess {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nora.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &noraProcess{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	for _, line := range strings.Split(config, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "listen = "); ok {
			p.addr = strings.Trim(v, `"`)
		}
	}
	// A TLS listener is polled over TLS; trusting it is the tests' business.
	get, scheme := http.Get, "http://"
	if strings.Contains(config, "[server.tls]") && !strings.Contains(config, `mode = "off"`) {
		insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		get, scheme = insecure.Get, "https://"
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := get(scheme + p.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatal("nora exited before it was healthy")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nora did not become healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildNora builds nora without -race into a temp dir of t: the child
// processes of the load, kill and speed tests run at a real server's pace
// (a race-enabled child is several times slower).
func buildNora(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nora")
	if out, err := exec.Command("go", "build", "-o", bin, "nora/cmd/nora").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (p *noraProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestKilledDuringFill(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	const size = 32 << 20
	d, _ := up.PushBlobOfSize(t, "library/big", size)
	// The upstream sends half the blob, then hangs: nora is mid-fill.
	release := make(chan struct{})
	defer close(release)
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) || r.Method != http.MethodGet {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(200)
		w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	data := t.TempDir()
	config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n", freeAddr(t), data, up.URL)
	p := startProcess(t, config)
	url := "http://" + p.addr + "/v2/big/blobs/" + d.String()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, size/4); err != nil {
		t.Fatalf("reading the growing blob: %v", err)
	}
	p.kill()
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatal("client saw a clean end of a fill that was killed")
	}
	resp.Body.Close()
	final := filepath.Join(data, "objects", filepath.FromSlash(cache.BlobKey(d)))
	if _, err := os.Stat(final); err == nil {
		t.Fatal("partial blob committed")
	}

	up.ClearFaults()
	p = startProcess(t, config)
	if entries, _ := os.ReadDir(filepath.Join(data, "tmp")); len(entries) != 0 {
		t.Fatalf("temp files of the killed fill survived restart: %d", len(entries))
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != d.String() {
		t.Fatalf("pull after restart: %d bytes, err %v", n, err)
	}
	settled(t, "the blob pulled after restart", fileStored(final))
}

// fileStored reports whether path is there.
func fileStored(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// settled waits until stored reports the object a fill served is
// stored: its commit goes on after the reply. The deadline only bounds a
// broken run.
func settled(t testing.TB, what string, stored func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !stored(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not stored", what)
		}
	}
}
