package auth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuditLine(t *testing.T) {
	var buf bytes.Buffer
	l := NewAuditLog(&buf)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	l.Record(Event{Time: at, Actor: "token laptop", Action: string(Push), Format: "npm",
		Name: "@frontend/app", Reference: "/npm/@frontend/app?token=s3cret&x=1", Result: "201",
		Remote: "192.0.2.1", RequestID: "abc"})
	l.Record(Event{Action: AuditLoginFailed, Result: ResultDenied})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", buf.String())
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Fatalf("secret in the log: %s", buf.String())
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"time": "2026-01-02T02:04:05Z", "actor": "token laptop", "action": "push",
		"format": "npm", "name": "@frontend/app", "reference": "/npm/@frontend/app?token=" + Redacted + "&x=1",
		"result": "201", "remote": "192.0.2.1", "request_id": "abc"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	var second map[string]string
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second["actor"] != AnonymousActor || second["time"] == "" {
		t.Errorf("defaults not filled: %v", second)
	}
}

func TestActorOf(t *testing.T) {
	f := func(id *Identity, want string) {
		t.Helper()
		if got := ActorOf(id); got != want {
			t.Errorf("ActorOf(%+v) = %q, want %q", id, got, want)
		}
	}
	f(nil, "anonymous")
	f(&Identity{Name: "alice"}, "alice")
	f(&Identity{Name: "laptop", Kind: APIToken}, "token laptop")
	f(&Identity{Name: "gh", Kind: OIDC, Actor: "oidc gh repository=a/b"}, "oidc gh repository=a/b")
}

func TestAuditLogOff(t *testing.T) {
	l, err := OpenAuditLog("", nil, nil)
	if l != nil || err != nil {
		t.Fatalf("OpenAuditLog(\"\") = %v, %v", l, err)
	}
	l.Record(Event{Action: "push"}) // a nil log records nothing
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditReopen: after the file is moved away (logrotate), Reopen makes
// new lines go to a new file at the path; concurrent Records are whole lines.
func TestAuditReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := OpenAuditLog(path, nil, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("audit file: %v %v", fi, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				l.Record(Event{Actor: "alice", Action: "push", Name: strings.Repeat("x", i*100)})
			}
		}()
	}
	wg.Wait()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Actor: "before-reopen", Action: "push"})
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Actor: "after-reopen", Action: "push"})
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	oldLines := strings.Split(strings.TrimSuffix(string(old), "\n"), "\n")
	if len(oldLines) != 401 || !strings.Contains(string(old), "before-reopen") {
		t.Fatalf("rotated file has %d lines", len(oldLines))
	}
	for _, line := range oldLines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("torn line %q", line)
		}
	}
	if !strings.Contains(string(cur), "after-reopen") || strings.Contains(string(cur), "before-reopen") {
		t.Fatalf("new file: %q", cur)
	}
}
