package cargo_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/proxytest"
)

// noraUnderTest is a test nora whose warnings and errors are kept in logs.
type noraUnderTest struct {
	*proxytest.Nora
	logs *logBuffer
}

// startNora runs an in-process nora with cfg as its [cargo] section.
func startNora(t testing.TB, cfg cargo.Config) *noraUnderTest {
	t.Helper()
	return startNoraAuth(t, cfg, nil)
}

// startNoraAuth is startNora with authCfg as the [auth] section (nil: the
// default, anonymous reads and no writes).
func startNoraAuth(t testing.TB, cfg cargo.Config, authCfg *auth.Config) *noraUnderTest {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return &noraUnderTest{proxytest.StartLogged(t, proxy.AppConfig{Cargo: cfg, Auth: authCfg}, log), logs}
}

// logBuffer collects nora's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cargoBin is the real cargo; its absence fails the test (.ci/setup-cargo.sh
// installs it).
func cargoBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cargo")
	if err != nil {
		t.Fatalf("cargo is not installed (.ci/setup-cargo.sh installs it): %v", err)
	}
	return p
}

// cargoEnv is an environment built from scratch: nothing of the machine's
// cargo settings, a home and CARGO_HOME of its own. A rustup-managed cargo
// still needs to find its toolchains.
func cargoEnv(home string, extra ...string) []string {
	env := proxytest.Env(home,
		"CARGO_HOME="+filepath.Join(home, "cargo-home"),
		"CARGO_HTTP_TIMEOUT=30", "CARGO_TERM_COLOR=never", "CARGO_TERM_PROGRESS_WHEN=never",
	)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUSTUP_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("RUSTUP_HOME") == "" {
		if h, err := os.UserHomeDir(); err == nil {
			if _, err := os.Stat(filepath.Join(h, ".rustup")); err == nil {
				env = append(env, "RUSTUP_HOME="+filepath.Join(h, ".rustup"))
			}
		}
	}
	return append(env, extra...)
}

func runCargo(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cargoBin(t), args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// packageCrates builds acme-dep 0.1.0 and acme-lib 0.1.0 (which depends on
// acme-dep) with `cargo package`, offline: the two are one workspace, so
// cargo resolves acme-lib's dependency on the local acme-dep.
func packageCrates(t *testing.T) (dep, lib []byte) {
	t.Helper()
	dir := t.TempDir()
	manifest := func(name, deps string) string {
		return "[package]\nname = \"" + name + "\"\nversion = \"0.1.0\"\nedition = \"2021\"\n" +
			"description = \"nora test crate\"\nlicense = \"MIT\"\n\n[dependencies]\n" + deps
	}
	writeFiles(t, dir, map[string]string{
		"Cargo.toml":          "[workspace]\nmembers = [\"acme-dep\", \"acme-lib\"]\nresolver = \"2\"\n",
		"acme-dep/Cargo.toml": manifest("acme-dep", ""),
		"acme-dep/src/lib.rs": "pub fn dep() -> u32 { 1 }\n",
		"acme-lib/Cargo.toml": manifest("acme-lib", "acme-dep = { path = \"../acme-dep\", version = \"0.1.0\" }\n"),
		"acme-lib/src/lib.rs": "pub fn lib() -> u32 { acme_dep::dep() + 1 }\n",
	})
	if out, err := runCargo(t, dir, cargoEnv(t.TempDir()), "package", "--workspace", "--no-verify", "--allow-dirty", "--offline"); err != nil {
		t.Fatalf("cargo package: %v\n%s", err, out)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "target", "package", name+"-0.1.0.crate"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return read("acme-dep"), read("acme-lib")
}

// client is a project depending on acme-lib, with a CARGO_HOME whose
// crates-io source is replaced by nora.
type client struct {
	home, project, cargoHome string
}

func newClient(t *testing.T, noraAddr string) *client {
	t.Helper()
	home := t.TempDir()
	c := &client{home: home, project: filepath.Join(home, "app"), cargoHome: filepath.Join(home, "cargo-home")}
	writeFiles(t, home, map[string]string{
		"cargo-home/config.toml": "[source.crates-io]\nreplace-with = \"nora\"\n\n[source.nora]\n" +
			"registry = \"sparse+http://" + noraAddr + "/cargo/index/\"\n",
		"app/Cargo.toml": "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n" +
			"[dependencies]\nacme-lib = \"0.1.0\"\n",
		"app/src/main.rs": "fn main() { println!(\"{}\", acme_lib::lib()); }\n",
	})
	return c
}

// fetch runs `cargo generate-lockfile` and `cargo fetch`.
func (c *client) fetch(t *testing.T, extraEnv ...string) (string, error) {
	t.Helper()
	env := cargoEnv(c.home, extraEnv...)
	var all strings.Builder
	for _, args := range [][]string{{"generate-lockfile"}, {"fetch"}} {
		out, err := runCargo(t, c.project, env, args...)
		all.WriteString(out)
		if err != nil {
			return all.String(), err
		}
	}
	return all.String(), nil
}

// cachedCrate returns what cargo stored for a downloaded .crate.
func (c *client) cachedCrate(t *testing.T, file string) []byte {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(c.cargoHome, "registry", "cache", "*", file))
	if len(m) != 1 {
		t.Fatalf("cargo cache holds %d copies of %s, want 1", len(m), file)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// get sends a GET (with optional header pairs) and reads the whole answer.
func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c *client) lockfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.project, "Cargo.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
