package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"nora/auth"
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

// The README's audit example loads as it says, and its sample line has
// the fields a real line has.
func TestReadmeAuditExample(t *testing.T) {
	cfg, err := parseConfig("README.md", []byte(proxytest.Snippet(t, "trusted_proxies = [")), nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := cfg.Server.Proxies()
	if err != nil || len(ps) != 1 || !ps[0].Contains(netip.MustParseAddr("10.1.2.3")) || cfg.Audit.Path != "/var/log/nora/audit.log" {
		t.Fatalf("trusted proxies %v (%v), audit path %q", ps, err, cfg.Audit.Path)
	}
	var doc, real map[string]string
	if err := json.Unmarshal([]byte(proxytest.Snippet(t, `{"time":`)), &doc); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	auth.NewAuditLog(&buf).Record(auth.Event{Actor: "a", Action: "push", Format: "docker", Name: "n",
		Reference: "/v2/n/manifests/v1", Result: "201", Remote: "192.0.2.10", RequestID: "x"})
	if err := json.Unmarshal(buf.Bytes(), &real); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(doc)), slices.Sorted(maps.Keys(real))) {
		t.Fatalf("README's line has %v, a real one %v", slices.Sorted(maps.Keys(doc)), slices.Sorted(maps.Keys(real)))
	}
}
