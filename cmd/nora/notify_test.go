package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// systemdSocket is the receiving end of NOTIFY_SOCKET, as systemd holds it.
func systemdSocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	// Short: a socket path must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

// expect reads the next message and checks that it starts with want.
func expect(t *testing.T, c *net.UnixConn, want string) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	msg := string(buf[:n])
	if !strings.HasPrefix(msg, want) {
		t.Fatalf("got %q, want %q...", msg, want)
	}
	return msg
}

func TestNotifier(t *testing.T) {
	c, path := systemdSocket(t)
	for _, env := range [][]string{nil, {"NOTIFY_SOCKET="}, {"NOTIFY_SOCKET=vsock:2:1"}} {
		if err := newNotifier(env).ready("x"); err != nil {
			t.Fatalf("%v: %v", env, err)
		}
	}
	n := newNotifier([]string{"NOTIFY_SOCKET=/nonexistent", "NOTIFY_SOCKET=" + path})
	n.ready("serving\nREADY=0")
	expect(t, c, "READY=1\nSTATUS=serving READY=0")
	n.reloading()
	if msg := expect(t, c, "RELOADING=1\nMONOTONIC_USEC="); len(msg) < len("RELOADING=1\nMONOTONIC_USEC=1") {
		t.Fatalf("no MONOTONIC_USEC value: %q", msg)
	}
	n.stopping()
	expect(t, c, "STOPPING=1")
	if err := newNotifier([]string{"NOTIFY_SOCKET=/nonexistent"}).ready("x"); err == nil {
		t.Fatal("no error for a missing socket")
	}
}

// TestServiceLifecycle runs nora the way systemd does (Type=notify,
// ExecReload sends SIGHUP): ready once listening, SIGHUP rereads the
// htpasswd file, SIGTERM says stopping and exits cleanly.
func TestServiceLifecycle(t *testing.T) {
	c, sock := systemdSocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	user := func(name string) string {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return name + ":" + string(h) + "\n"
	}
	os.WriteFile(htpasswd, []byte(user("a")), 0o600)
	config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n"+
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"http://127.0.0.1:1\"\n"+
		"[auth]\nanonymous_read = false\nhtpasswd = %q\n", freeAddr(t), t.TempDir(), htpasswd)
	p := startProcess(t, config)
	expect(t, c, "READY=1\nSTATUS=serving on ")

	status := func(name string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v2/acme/app/tags/list", nil)
		req.SetBasicAuth(name, "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("b"); got != http.StatusUnauthorized {
		t.Fatalf("unknown user b: status %d", got)
	}
	os.WriteFile(htpasswd, []byte(user("a")+user("b")), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	expect(t, c, "RELOADING=1")
	expect(t, c, "READY=1\nSTATUS=serving on ")
	if got := status("b"); got == http.StatusUnauthorized {
		t.Fatal("user b still unknown after SIGHUP")
	}

	// A broken file is reported and the users loaded before stay.
	os.WriteFile(htpasswd, []byte("broken\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	expect(t, c, "RELOADING=1")
	expect(t, c, "READY=1\nSTATUS=reload failed: ")
	if got := status("b"); got == http.StatusUnauthorized {
		t.Fatal("a failed reload dropped user b")
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	expect(t, c, "STOPPING=1")
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("nora did not stop after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}
