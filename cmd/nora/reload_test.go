package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"nora/proxy"
	"nora/proxy/proxytest"
)

// TestConfigReload reloads a whole config file into a serving App: a live
// key takes effect at once, a changed listen address is logged as needing
// a restart while the old address keeps serving, and an invalid file is
// refused whole, the running settings staying in force.
func TestConfigReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nora.toml")
	htpasswd := proxytest.Htpasswd(t, "ci", "pw")
	base := baseConfig(t)
	write := func(extra string) {
		t.Helper()
		doc := base + "[npm]\nupstream = \"http://127.0.0.1:1\"\n" +
			fmt.Sprintf("[auth]\nhtpasswd = %q\n", htpasswd) + extra
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("anonymous_read = true\n")
	load := func() (fileConfig, string, error) { return loadStartable(path, "", nil) }
	cfg, _, err := load()
	if err != nil {
		t.Fatal(err)
	}
	logs := &proxytest.Log{}
	app, err := proxy.NewApp(cfg.app(), logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + app.Addr().String() + "/npm/left-pad"
	serveInBackground(t, app)
	reload := configReloader(app, cfg, load, logs.Logger())
	anonymous := func() int {
		t.Helper()
		status, _, _ := get(t, url)
		return status
	}
	if got := anonymous(); got == 401 {
		t.Fatalf("anonymous read before the reload: %d", got)
	}

	// A live key and restart-only ones (tenants too: their limiters and
	// counts are built at start-up).
	write("anonymous_read = false\n[gc]\ngrace = \"2h\"\n[[tenants]]\nname = \"a\"\n")
	os.WriteFile(path, []byte(strings.Replace(string(mustRead(t, path)), `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:1"`, 1)), 0o600)
	before := logs.String()
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	if got := anonymous(); got != 401 {
		t.Fatalf("anonymous read after anonymous_read = false: %d, want 401 (and the old address still serving)", got)
	}
	out := strings.TrimPrefix(logs.String(), before)
	if !strings.Contains(out, `need a restart`) || !strings.Contains(out, `"keys":["server.listen","gc.grace","tenants"]`) {
		t.Errorf("the reload did not log the keys needing a restart:\n%s", out)
	}
	if !strings.Contains(out, `"applied":["auth.anonymous_read"]`) {
		t.Errorf("the reload did not log what it applied:\n%s", out)
	}

	// Invalid files are refused whole: anonymous_read = true in them is
	// not applied.
	for _, bad := range []string{
		"anonymous_read = true\n[storage]\nbackend = \"s3\"\n",
		"anonymous_read = true\n[server]\n",
		"anonymous_read = true\nhtpassword = \"x\"\n",
	} {
		write(bad)
		if err := reload(); err == nil {
			t.Errorf("reload accepted %q", bad)
		}
		if got := anonymous(); got != 401 {
			t.Fatalf("a refused reload changed anonymous_read: %d", got)
		}
	}
	if status, _, _ := getAs(t, url, "ci", "pw"); status == 401 {
		t.Fatal("the htpasswd user lost access after refused reloads")
	}
	// A broken htpasswd file is refused by the same checks as start-up.
	write("anonymous_read = true\n")
	os.WriteFile(htpasswd, []byte("broken\n"), 0o600)
	if err := reload(); err == nil || !strings.Contains(err.Error(), "auth.htpasswd") {
		t.Fatalf("reload with a broken htpasswd: %v", err)
	}
	if got := anonymous(); got != 401 {
		t.Fatalf("a refused reload changed anonymous_read: %d", got)
	}
}

// TestHangupReloadsConfig sends SIGHUP to a real nora: anonymous_read
// changes live; an invalid file is reported to systemd and changes nothing.
func TestHangupReloadsConfig(t *testing.T) {
	c, sock := systemdSocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	htpasswd := proxytest.Htpasswd(t, "ci", "pw")
	doc := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[npm]\nupstream = \"http://127.0.0.1:1\"\n"+
		"[auth]\nhtpasswd = %q\n", freeAddr(t), t.TempDir(), htpasswd)
	p := startProcess(t, doc+"anonymous_read = true\n")
	expect(t, c, "READY=1\nSTATUS=serving on ")
	path := p.cmd.Args[len(p.cmd.Args)-1]
	url := "http://" + p.addr + "/npm/left-pad"
	hangup := func(content, status string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGHUP)
		expect(t, c, "RELOADING=1")
		expect(t, c, "READY=1\nSTATUS="+status)
	}
	if status, _, _ := get(t, url); status == 401 {
		t.Fatalf("anonymous read at start: %d", status)
	}
	hangup(doc+"anonymous_read = false\n", "serving on ")
	if status, _, _ := get(t, url); status != 401 {
		t.Fatalf("anonymous read after SIGHUP with anonymous_read = false: %d", status)
	}
	hangup(doc+"anonymous_read = true\n[storage]\nbackend = \"s3\"\n", "reload failed: ")
	if status, _, _ := get(t, url); status != 401 {
		t.Fatalf("an invalid file's anonymous_read was applied: %d", status)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func getAs(t *testing.T, url, user, pass string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, "", ""
}
