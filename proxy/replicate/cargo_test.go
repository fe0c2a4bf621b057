package replicate_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/proxytest"
	"nora/proxy/replicate"
)

// cargoRun runs the real cargo in dir against nora n (crates-io replaced
// by it), logged in as the pair's htpasswd user.
func cargoRun(t *testing.T, n *proxytest.Nora, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("cargo")
	if err != nil {
		t.Fatalf("cargo is not installed (.ci/setup-cargo.sh installs it): %v", err)
	}
	home := t.TempDir()
	pkgWrite(t, home, map[string]string{"cargo-home/config.toml": "[registries.nora]\nindex = \"sparse+" + n.URL +
		"/cargo/index/\"\ncredential-provider = [\"cargo:token\"]\n\n[source.crates-io]\nreplace-with = \"nora\"\n"})
	env := proxytest.Env(home, "CARGO_HOME="+filepath.Join(home, "cargo-home"), "CARGO_HTTP_TIMEOUT=30",
		"CARGO_TERM_COLOR=never", "CARGO_TERM_PROGRESS_WHEN=never",
		"CARGO_REGISTRIES_NORA_TOKEN=Basic "+base64.StdEncoding.EncodeToString([]byte("ci:secret")))
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUSTUP_") {
			env = append(env, kv)
		}
	}
	if h, err := os.UserHomeDir(); err == nil && os.Getenv("RUSTUP_HOME") == "" {
		if _, err := os.Stat(filepath.Join(h, ".rustup")); err == nil {
			env = append(env, "RUSTUP_HOME="+filepath.Join(h, ".rustup"))
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cargo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pkgWrite writes files (slash paths) under root.
func pkgWrite(t *testing.T, root string, files map[string]string) {
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

// crateDir writes a crate's sources: deps and features are TOML lines.
func crateDir(t *testing.T, name, vers, deps, features string) string {
	t.Helper()
	dir := t.TempDir()
	pkgWrite(t, dir, map[string]string{
		"Cargo.toml": "[package]\nname = \"" + name + "\"\nversion = \"" + vers + "\"\nedition = \"2021\"\n" +
			"description = \"nora replication test crate\"\nlicense = \"MIT\"\npublish = [\"nora\"]\n\n" +
			"[dependencies]\n" + deps + "\n[features]\n" + features + "\n",
		"src/lib.rs": "pub fn version() -> &'static str { \"" + vers + "\" }\n",
	})
	return dir
}

var noPubtime = regexp.MustCompile(`,"pubtime":"[^"]*"`)

// TestCargoCopy: crates cargo published on the source (one depending on
// the other, with features) are published on the target with the same
// .crate and index line (a yanked version yanked); cargo resolves and fetches them from there; a
// second copy sends nothing; a target refusing the publish fails naming
// the item.
func TestCargoCopy(t *testing.T) {
	p := startPkgPair(t, proxy.AppConfig{Cargo: cargo.DefaultConfig()})
	publish := []string{"publish", "--registry", "nora", "--no-verify", "--allow-dirty"}
	cargoRun(t, p.srcN, crateDir(t, "acme-dep", "0.1.0", "", "extra = []\n"), publish...)
	cargoRun(t, p.srcN, crateDir(t, "acme-lib", "0.2.0", "acme-dep = { version = \"0.1\", optional = true, features = [\"extra\"] }\n",
		"default = [\"dep:acme-dep\"]\n"), publish...)
	cargoRun(t, p.srcN, crateDir(t, "acme-dep", "0.1.1", "", "extra = []\n"), publish...)
	cargoRun(t, p.srcN, t.TempDir(), "yank", "--registry", "nora", "acme-dep@0.1.1")

	m := replicate.Cargo()
	items := p.list(t, m, func(name, _ string) bool { return strings.HasPrefix(name, "acme-") })
	if len(items) != 3 {
		t.Fatalf("listed %v, want acme-dep (2 versions) and acme-lib", items)
	}
	p.refused(t, m, items[0])
	p.copyAll(t, m, items)
	sameIndex := func() {
		t.Helper()
		for _, path := range []string{"/cargo/index/ac/me/acme-lib", "/cargo/index/ac/me/acme-dep"} {
			// The same lines (the yanked one yanked) but their publication time.
			src, dst := pkgFetch(t, p.srcN.URL+path), pkgFetch(t, p.dstN.URL+path)
			if a, b := noPubtime.ReplaceAll(src, nil), noPubtime.ReplaceAll(dst, nil); string(a) != string(b) {
				t.Fatalf("%s differs:\nsource %s\ntarget %s", path, src, dst)
			}
		}
	}
	sameIndex()
	p.sameBytes(t, "/cargo/api/v1/crates/acme-lib/0.2.0/download")
	p.sameBytes(t, "/cargo/api/v1/crates/acme-dep/0.1.0/download")

	app := t.TempDir()
	pkgWrite(t, app, map[string]string{
		"Cargo.toml":  "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nacme-lib = \"0.2\"\n",
		"src/main.rs": "fn main() {}\n",
	})
	cargoRun(t, p.dstN, app, "generate-lockfile")
	cargoRun(t, p.dstN, app, "fetch")
	lock, err := os.ReadFile(filepath.Join(app, "Cargo.lock"))
	if err != nil || !strings.Contains(string(lock), "name = \"acme-dep\"\nversion = \"0.1.0\"") {
		t.Fatalf("Cargo.lock from the target does not pin acme-dep 0.1.0, 0.1.1 being yanked (%v):\n%s", err, lock)
	}
	// An unyank on the source is an unyank on the target, then nothing.
	cargoRun(t, p.srcN, t.TempDir(), "yank", "--undo", "--registry", "nora", "acme-dep@0.1.1")
	for i, it := range items {
		c, err := m.Copy(t.Context(), p.src, p.dst, it, false, nil)
		if err != nil || c.Skipped != (it.Version != "0.1.1") || c.Bytes != 0 {
			t.Fatalf("copy %d after the unyank: %+v %v", i, c, err)
		}
	}
	sameIndex()
}
