// Package npmtest runs real npm upstreams for nora's tests: verdaccio (a
// real registry, installed by .ci/setup-npm.sh into proxy/npm/testdata)
// with the real npm CLI publishing to it, a reverse proxy in front of it
// that can corrupt tarballs or stop answering, and a small Go registry that
// speaks the same protocol for benchmarks.
package npmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Verdaccio is a verdaccio registry on loopback, storing in a temp dir, with
// no uplinks.
type Verdaccio struct {
	URL   string // "http://127.0.0.1:<port>", no trailing slash
	Token string // a publisher's token
	home  string
	log   string
}

// verdaccioBin is where .ci/setup-npm.sh installs verdaccio.
func verdaccioBin() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "verdaccio", "node_modules", "verdaccio", "bin", "verdaccio")
}

const verdaccioConfig = `storage: %s
auth:
  htpasswd:
    file: %s
    max_users: 10
uplinks: {}
packages:
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
max_body_size: 100mb
log: { type: stdout, format: pretty, level: warn }
`

// StartVerdaccio starts verdaccio and creates a publishing user. It stops
// with the test.
func StartVerdaccio(t testing.TB) *Verdaccio {
	t.Helper()
	bin := verdaccioBin()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("verdaccio is not installed at %s: run .ci/setup-npm.sh (%v)", bin, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (.ci/setup-npm.sh installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	conf := fmt.Sprintf(verdaccioConfig, filepath.Join(dir, "storage"), filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// The port is free when chosen, not when verdaccio binds it: a
	// test running alongside may take it first, so a start that finds it
	// taken tries another.
	var v *Verdaccio
	for attempt := 1; v == nil; attempt++ {
		v = listenVerdaccio(t, node, bin, cfg, filepath.Join(dir, fmt.Sprint(attempt)), attempt < 3)
	}
	v.Token = v.addUser(t, "nora-test", "nora-test-password")
	return v
}

// listenVerdaccio starts verdaccio on a free port with its home and log
// in dir; nil (with retry) when another process took the port first.
func listenVerdaccio(t testing.TB, node, bin, cfg, dir string, retry bool) *Verdaccio {
	addr := freeAddr(t)
	v := &Verdaccio{URL: "http://" + addr, home: filepath.Join(dir, "home"), log: filepath.Join(dir, "verdaccio.log")}
	if err := os.MkdirAll(v.home, 0o700); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(v.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, bin, "--config", cfg, "--listen", addr)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.home}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start verdaccio: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(v.URL + "/-/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return v
			}
		}
		select {
		case <-exited:
			if retry && strings.Contains(v.Log(), "EADDRINUSE") {
				return nil
			}
			t.Fatalf("verdaccio exited:\n%s", v.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("verdaccio did not answer on %s within 60s:\n%s", addr, v.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log is what verdaccio printed.
func (v *Verdaccio) Log() string {
	b, _ := os.ReadFile(v.log)
	return string(b)
}

// addUser is what `npm adduser` does.
func (v *Verdaccio) addUser(t testing.TB, name, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	req, _ := http.NewRequest(http.MethodPut, v.URL+"/-/user/org.couchdb.user:"+name, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusCreated || out.Token == "" {
		t.Fatalf("cannot create verdaccio user: %d %s", resp.StatusCode, b)
	}
	return out.Token
}

// Publish runs the real `npm publish` in dir (a package directory).
func (v *Verdaccio) Publish(t testing.TB, dir string) {
	t.Helper()
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	hostPath := strings.TrimPrefix(v.URL, "http:")
	conf := "registry=" + v.URL + "/\n" + hostPath + "/:_authToken=" + v.Token + "\n"
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := NPM(t, dir, home, "publish", "--userconfig", rc, "--registry", v.URL+"/", "--cache", filepath.Join(home, "cache"))
	if err != nil {
		t.Fatalf("npm publish %s: %v\n%s", dir, err, out)
	}
}

// WritePackage writes a package directory: package.json and index.js.
func WritePackage(t testing.TB, name, version string, deps map[string]string, index string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := map[string]any{"name": name, "version": version, "main": "index.js", "license": "MIT", "description": "nora test fixture"}
	if len(deps) > 0 {
		manifest["dependencies"] = deps
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(index), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// NPM runs the npm CLI in dir with an environment built from scratch
// (PATH, HOME=home and an empty global npmrc), so nothing of the machine's
// npm settings (~/.npmrc, the global npmrc, npm_config_* variables)
// applies. Pass --userconfig.
func NPM(t testing.TB, dir, home string, args ...string) (string, error) {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed (.ci/setup-npm.sh installs it): %v", err)
	}
	// The machine's global npmrc (next to npm's prefix) must not apply either.
	global := filepath.Join(home, "global-npmrc")
	if err := os.WriteFile(global, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "NO_UPDATE_NOTIFIER=1",
		"npm_config_globalconfig=" + global}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
