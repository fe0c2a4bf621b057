package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"nora/proxy/proxytest"
)

// TestHangupReopensAuditLog: logrotate moves the audit log away and sends
// SIGHUP; nora's next lines go to a new file at the configured path, none
// to the moved one.
func TestHangupReopensAuditLog(t *testing.T) {
	c, sock := systemdSocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	audit := filepath.Join(t.TempDir(), "audit.log")
	doc := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[npm]\nupstream = \"http://127.0.0.1:1\"\n"+
		"[auth]\nhtpasswd = %q\n[audit]\npath = %q\n", freeAddr(t), t.TempDir(), proxytest.Htpasswd(t, "ci", "pw-Hup-3a9"), audit)
	p := startProcess(t, doc)
	expect(t, c, "READY=1\nSTATUS=serving on ")
	url := "http://" + p.addr + "/npm/-/whoami"
	failLogin := func(user string) {
		t.Helper()
		if status, _, _ := getAs(t, url, user, "wrong"); status != 401 {
			t.Fatalf("wrong password for %s: %d", user, status)
		}
	}
	failLogin("before-rotation")
	if err := os.Rename(audit, audit+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	expect(t, c, "RELOADING=1")
	expect(t, c, "READY=1\nSTATUS=serving on ")
	failLogin("after-rotation")

	old, cur := string(mustRead(t, audit+".1")), string(mustRead(t, audit))
	if !strings.Contains(old, `"actor":"before-rotation"`) || strings.Contains(old, "after-rotation") {
		t.Errorf("moved audit log:\n%s", old)
	}
	if !strings.Contains(cur, `"actor":"after-rotation","action":"login-failed"`) || strings.Contains(cur, "before-rotation") {
		t.Errorf("reopened audit log:\n%s", cur)
	}
	if fi, err := os.Stat(audit); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("reopened audit log: %v %v", fi, err)
	}
}
