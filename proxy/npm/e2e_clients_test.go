package npm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// pnpm and yarn 2+ install through nora with the configuration README.md
// gives them, verbatim but for the box's address.

// clientProject starts a nora in front of v and returns a project that
// depends on @acme/app-lib.
func clientProject(t *testing.T, v *npmtest.Verdaccio) (*proxytest.Nora, string) {
	t.Helper()
	n := startNora(t, npm.Config{Upstream: v.URL})
	proj := t.TempDir()
	pkg := `{"name":"proj","version":"1.0.0","private":true,"dependencies":{"@acme/app-lib":"^1.0.0"}}`
	if err := os.WriteFile(filepath.Join(proj, "package.json"), []byte(pkg), 0o600); err != nil {
		t.Fatal(err)
	}
	return n, proj
}

// runClient runs a package manager in proj with a clean home.
func runClient(t *testing.T, proj, home string, env []string, name string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (.ci/setup-clients.sh installs it): %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = proj
	cmd.Env = append(proxytest.Env(home, "NO_UPDATE_NOTIFIER=1", "CI=1"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s through nora: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// checkInstalled requires the project to run with what nora served, and
// nora to have cached both tarballs.
func checkInstalled(t *testing.T, n *proxytest.Nora, proj string) {
	t.Helper()
	cmd := exec.Command("node", "-e", "process.stdout.write(require('@acme/app-lib'))")
	cmd.Dir = proj
	if got, err := cmd.CombinedOutput(); err != nil || string(got) != "app-lib uses dep-1" {
		t.Fatalf("require('@acme/app-lib') = %q, %v", got, err)
	}
	for _, key := range []string{"refs/npm/@acme/dep/-/dep-1.0.0.tgz", "refs/npm/@acme/app-lib/-/app-lib-1.0.0.tgz"} {
		if !n.Stored(key) {
			t.Fatalf("%s not cached: the client did not fetch it through nora", key)
		}
	}
}

func TestPackageManagersThroughNora(t *testing.T) {
	v := npmtest.StartVerdaccio(t)
	v.Publish(t, npmtest.WritePackage(t, "@acme/dep", "1.0.0", nil, depIndex))
	v.Publish(t, npmtest.WritePackage(t, "@acme/app-lib", "1.0.0", map[string]string{"@acme/dep": "^1.0.0"}, appIndex))
	t.Run("pnpm", func(t *testing.T) { pnpmInstall(t, v) })
	t.Run("yarn", func(t *testing.T) { yarnInstall(t, v) })
	t.Run("yarn refuses unlisted HTTP", func(t *testing.T) { yarnRefusesUnlistedHTTP(t, v) })
}

func pnpmInstall(t *testing.T, v *npmtest.Verdaccio) {
	n, proj := clientProject(t, v)
	home := t.TempDir()
	npmrc := n.Local(proxytest.Snippet(t, "registry=http://"+proxytest.DocAddr+"/npm/"))
	if err := os.WriteFile(filepath.Join(proj, ".npmrc"), []byte(npmrc), 0o600); err != nil {
		t.Fatal(err)
	}
	// Global config and store in the clean home, so nothing of the machine's applies.
	runClient(t, proj, home, []string{"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "npm_config_globalconfig=" + filepath.Join(home, "npmrc")},
		"pnpm", "install", "--store-dir", filepath.Join(home, "store"), "--reporter", "append-only")
	checkInstalled(t, n, proj)
	lock, err := os.ReadFile(filepath.Join(proj, "pnpm-lock.yaml"))
	if err != nil || !strings.Contains(string(lock), "@acme/dep@1.0.0") {
		t.Fatalf("pnpm-lock.yaml: %v\n%s", err, lock)
	}
}

// yarnExtra: node_modules, so node can require the result as with npm.
const yarnExtra = "nodeLinker: node-modules\nenableTelemetry: false\nenableGlobalCache: false\n"

// yarnRC is the README's .yarnrc.yml with the test nora's address, and the
// age gate exemption the README gives for packages published a moment ago
// (as the fixtures were).
func yarnRC(t *testing.T, n *proxytest.Nora) string {
	t.Helper()
	return n.Local(proxytest.Snippet(t, "npmRegistryServer:")) + proxytest.Inline(t, "npmPreapprovedPackages:") + "\n"
}

func yarnInstall(t *testing.T, v *npmtest.Verdaccio) {
	n, proj := clientProject(t, v)
	home := t.TempDir()
	rc := yarnRC(t, n) + yarnExtra
	if err := os.WriteFile(filepath.Join(proj, ".yarnrc.yml"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "yarn.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	runClient(t, proj, home, []string{"YARN_IGNORE_PATH=1", "COREPACK_ENABLE_STRICT=0"}, "yarn", "install", "--no-immutable")
	checkInstalled(t, n, proj)
	lock, err := os.ReadFile(filepath.Join(proj, "yarn.lock"))
	if err != nil || !strings.Contains(string(lock), "@acme/dep@npm:1.0.0") {
		t.Fatalf("yarn.lock: %v\n%s", err, lock)
	}
}

// yarnRefusesUnlistedHTTP: the snippet's unsafeHttpWhitelist is what lets
// yarn talk to nora at all.
func yarnRefusesUnlistedHTTP(t *testing.T, v *npmtest.Verdaccio) {
	n, proj := clientProject(t, v)
	var rc string
	for _, line := range strings.SplitAfter(yarnRC(t, n), "\n") {
		if !strings.HasPrefix(line, "unsafeHttpWhitelist:") && !strings.HasPrefix(line, "  - ") {
			rc += line
		}
	}
	if err := os.WriteFile(filepath.Join(proj, ".yarnrc.yml"), []byte(rc+yarnExtra), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(proj, "yarn.lock"), nil, 0o600)
	yarn, err := exec.LookPath("yarn")
	if err != nil {
		t.Fatalf("yarn is not installed (.ci/setup-clients.sh installs it): %v", err)
	}
	cmd := exec.Command(yarn, "install")
	cmd.Dir = proj
	cmd.Env = proxytest.Env(t.TempDir(), "CI=1", "YARN_IGNORE_PATH=1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "must be explicitly whitelisted") {
		t.Fatalf("yarn without the whitelist: %v\n%s", err, out)
	}
}
