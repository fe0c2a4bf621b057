package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/proxy"
	"nora/proxy/proxytest"
)

// readmeExample is the README's configuration example (its second registry
// renamed): it names docker upstreams only.
const readmeExample = `
[server]
listen = "0.0.0.0:4000"

[storage]
path = "/var/lib/nora"
max_size = "200GB"

[[docker.upstreams]]
name = "docker.io"
url = "https://registry-1.docker.io"
realm = "https://auth.docker.io/token"
ttl = "0s"            # tags: revalidate on every pull

[[docker.upstreams]]
name = "registry.example.com"
url = "https://registry.example.com"
`

// A section the file leaves out keeps the embedded default's values (the
// public upstreams); an array of tables the file writes replaces the
// default's list.
func TestPartialConfigKeepsDefaults(t *testing.T) {
	def, err := parseConfig(embeddedName, defaultTOML, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("nora.toml", []byte(readmeExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Npm.Upstream != def.Npm.Upstream || cfg.PyPI.Upstream != def.PyPI.Upstream ||
		cfg.Cargo.Index != def.Cargo.Index || len(cfg.Maven.Upstreams) != 1 || cfg.Maven.Upstreams[0] != def.Maven.Upstreams[0] {
		t.Errorf("left-out sections lost their upstreams: npm %q pypi %q cargo %q maven %+v",
			cfg.Npm.Upstream, cfg.PyPI.Upstream, cfg.Cargo.Index, cfg.Maven.Upstreams)
	}
	if !cfg.Npm.IsEnabled() || !cfg.PyPI.IsEnabled() || !cfg.Maven.IsEnabled() || !cfg.Cargo.IsEnabled() || !cfg.Docker.IsEnabled() {
		t.Error("a left-out section turned its format off")
	}
	if len(cfg.Docker.Upstreams) != 2 || cfg.Docker.Upstreams[1].Name != "registry.example.com" || cfg.Docker.Upstreams[1].Realm != "" {
		t.Errorf("docker upstreams are not the file's two: %+v", cfg.Docker.Upstreams)
	}
	// A key the file leaves out of a section it writes keeps its default.
	cfg, err = parseConfig("nora.toml", []byte("[npm]\nttl = \"1h\"\n[[maven.upstreams]]\nurl = \"https://maven.example.com/m2\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Npm.Upstream != def.Npm.Upstream || cfg.Npm.TTL.D().String() != "1h0m0s" {
		t.Errorf("npm: %+v", cfg.Npm)
	}
	if len(cfg.Maven.Upstreams) != 1 || cfg.Maven.Upstreams[0].URL != "https://maven.example.com/m2" {
		t.Errorf("maven upstreams not replaced: %+v", cfg.Maven.Upstreams)
	}
	// An explicitly empty list: hosted only.
	cfg, err = parseConfig("nora.toml", []byte("[docker]\nupstreams = []\n[maven]\nupstreams = []\n"), nil)
	if err != nil || len(cfg.Docker.Upstreams) != 0 || len(cfg.Maven.Upstreams) != 0 || !cfg.Docker.IsEnabled() {
		t.Errorf("upstreams = []: %v %+v %+v", err, cfg.Docker.Upstreams, cfg.Maven.Upstreams)
	}
	// Off only when said so, in the file or the environment.
	cfg, err = parseConfig("nora.toml", []byte("[npm]\nenabled = false\n"), []string{"NORA_CARGO_ENABLED=false"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Npm.IsEnabled() || cfg.Cargo.IsEnabled() || !cfg.PyPI.IsEnabled() {
		t.Errorf("enabled: npm %v cargo %v pypi %v", cfg.Npm.IsEnabled(), cfg.Cargo.IsEnabled(), cfg.PyPI.IsEnabled())
	}
}

// startApp parses doc like serve does and runs the App in process; it
// returns the base URL and the JSON log.
func startApp(t *testing.T, doc string) (fileConfig, *proxy.App, string, *proxytest.Log) {
	t.Helper()
	cfg, err := parseChecked("nora.toml", []byte(doc), nil, startable)
	if err != nil {
		t.Fatal(err)
	}
	logs := &proxytest.Log{}
	app, err := proxy.NewApp(cfg.app(), logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	serveInBackground(t, app)
	return cfg, app, "http://" + app.Addr().String(), logs
}

// serveInBackground serves app until t ends.
func serveInBackground(t *testing.T, app *proxy.App) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// baseConfig is a loopback listener, temp storage and admin socket, and
// upstreams that refuse connections.
func baseConfig(t *testing.T) string {
	t.Helper()
	sock, err := os.MkdirTemp("", "nora-admin") // sun_path is short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	return fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nadmin_socket = %q\n[storage]\npath = %q\n",
		filepath.Join(sock, "admin.sock"), t.TempDir())
}

func get(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// A format turned off answers every route with a 404 that says so, in its
// own error shape; the start-up log lists each format with its upstreams.
func TestFormatNotEnabled(t *testing.T) {
	doc := baseConfig(t) + "[docker]\nenabled = false\n[npm]\nenabled = false\n[pypi]\nenabled = false\n" +
		"[maven]\nenabled = false\n[cargo]\nenabled = false\n"
	_, _, base, _ := startApp(t, doc)
	f := func(path, wantType, wantBody string) {
		t.Helper()
		status, ct, body := get(t, base+path)
		if status != 404 || !strings.HasPrefix(ct, wantType) || strings.TrimSpace(body) != wantBody {
			t.Errorf("GET %s: %d %s %q, want 404 %s %q", path, status, ct, body, wantType, wantBody)
		}
	}
	f("/v2/library/alpine/manifests/3", "application/json", `{"errors":[{"code":"UNSUPPORTED","message":"docker is not enabled on this nora"}]}`)
	f("/npm/left-pad", "application/json", `{"error":"npm is not enabled on this nora"}`)
	f("/simple/requests/", "text/plain", `404 Not Found: pypi is not enabled on this nora`)
	f("/maven2/junit/junit/4.13.2/junit-4.13.2.pom", "text/plain", `404 Not Found: maven is not enabled on this nora`)
	f("/cargo/index/config.json", "application/json", `{"errors":[{"detail":"cargo is not enabled on this nora"}]}`)
	if status, _, _ := get(t, base+"/health"); status != 200 {
		t.Errorf("/health with every format off: %d", status)
	}
}

func TestStartupLogListsFormats(t *testing.T) {
	const up = "http://127.0.0.1:1"
	doc := baseConfig(t) + fmt.Sprintf("[npm]\nupstream = %q\nttl = \"7m\"\noffline = true\n[cargo]\nenabled = false\n"+
		"[pypi]\nupstream = \"http://127.0.0.1:1/simple/\"\n"+
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n", up, up)
	_, _, _, logs := startApp(t, doc)
	out := logs.String()
	for _, want := range []string{
		`"msg":"format enabled","format":"npm","upstreams":["` + up + `"],"ttl":"7m0s","offline":true`,
		`"msg":"format not enabled","format":"cargo"`,
		`"msg":"format enabled","format":"pypi","upstreams":["http://127.0.0.1:1/simple/"],"ttl":"5m0s","offline":false`,
		`"msg":"format enabled","format":"maven","upstreams":["https://repo1.maven.org/maven2"],"ttl":"5m0s","offline":false`,
		`"format":"docker","upstreams":["docker.io=http://127.0.0.1:1 ttl=0s"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("start-up log shows an upstream password:\n%s", out)
	}
}

// nora config check refuses what would stop nora serve, with the same
// message; "ok" means serve starts.
func TestConfigCheckAsServe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	broken := filepath.Join(dir, "htpasswd")
	os.WriteFile(broken, []byte("alice\n"), 0o600)
	sock, err := os.MkdirTemp("", "nora-admin") // sun_path is short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	// extra is [server] and [storage] keys, then other sections.
	f := func(extra, want string) {
		t.Helper()
		server, rest, _ := strings.Cut(extra, "|")
		storage, rest, _ := strings.Cut(rest, "|")
		if !strings.Contains(server, "admin_socket") {
			server += fmt.Sprintf("admin_socket = %q\n", filepath.Join(sock, "admin.sock"))
		}
		if !strings.Contains(storage, "path") {
			storage = fmt.Sprintf("path = %q\n", t.TempDir()) + storage
		}
		path := writeConfig(t, "[server]\nlisten = \"127.0.0.1:0\"\n"+server+"[storage]\n"+storage+rest)
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"config", "check", "--config", path}, &out, &errOut, nil)
		if want == "" {
			if code != 0 || !strings.HasPrefix(out.String(), "ok: ") {
				t.Errorf("check of %q: %d %s%s", extra, code, out.String(), errOut.String())
			}
			return
		}
		if code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("check of %q: exit %d, %q, want an error with %q", extra, code, errOut.String(), want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var sout, serr bytes.Buffer
		if code := run(ctx, []string{"serve", "--config", path}, &sout, &serr, nil); code != 1 || serr.String() != errOut.String() {
			t.Errorf("serve of %q: exit %d, %q, want the check's %q", extra, code, serr.String(), errOut.String())
		}
	}
	f("||", "")
	f(fmt.Sprintf("||[auth]\nhtpasswd = %q\n", filepath.Join(dir, "missing")), "auth.htpasswd: cannot read htpasswd: ")
	f(fmt.Sprintf("||[auth]\nhtpasswd = %q\n", broken), "auth.htpasswd: "+broken+":1: want user:bcrypt-hash")
	f(fmt.Sprintf("|path = %q\n|", filepath.Join(file, "data")), "storage.path: cannot use "+filepath.Join(file, "data")+": "+file+" is not a directory")
	f(fmt.Sprintf("admin_socket = %q\n||", filepath.Join(file, "admin.sock")), "server.admin_socket: ")
}
