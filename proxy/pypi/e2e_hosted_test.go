package pypi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// The hosted end-to-end tests build projects with setuptools, upload them
// with the real twine and install them with the real pip through nora.

var (
	hostedOnce  sync.Once
	hostedDists map[string]dist // "acme-lib 1.0.0" -> its wheel and sdist
)

// hostedFixtures builds, once per test binary: acme-lib 1.0.0 and 1.1.0;
// "acme-lib 1.0.0 other", the same release built differently (a taken
// file name); acme-tool 1.0.0, which needs acme-lib (hosted) and Acme_Dep
// (proxied).
func hostedFixtures(t *testing.T) map[string]dist {
	t.Helper()
	fixtures(t) // distsDir, removed by TestMain
	hostedOnce.Do(func() {
		out := map[string]dist{}
		for key, p := range map[string]pypitest.Project{
			"acme-lib 1.0.0":       {Name: "Acme_Lib", Version: "1.0.0", RequiresPython: ">=3.7"},
			"acme-lib 1.1.0":       {Name: "Acme_Lib", Version: "1.1.0", RequiresPython: ">=3.7"},
			"acme-lib 1.0.0 other": {Name: "Acme_Lib", Version: "1.0.0", Requires: []string{"Acme_Dep"}},
			"acme-tool 1.0.0":      {Name: "acme-tool", Version: "1.0.0", Requires: []string{"acme-lib>=1.0", "Acme_Dep>=1.0"}},
		} {
			dir := filepath.Join(distsDir, "hosted-"+strings.ReplaceAll(key, " ", "-"))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			whl, sdist := pypitest.Build(t, dir, p)
			out[key] = dist{project: p.Name, wheel: whl, sdist: sdist, requiresPython: p.RequiresPython}
		}
		hostedDists = out
	})
	if len(hostedDists) != 4 {
		t.Fatal("hosted fixtures were not built")
	}
	return hostedDists
}

// twine runs Debian's twine upload against nora with an environment of its
// own: no ~/.pypirc, no keyring, credentials from TWINE_USERNAME and
// TWINE_PASSWORD ("" user: none).
func twine(t *testing.T, n *noraUnderTest, user, pass string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(pypitest.Python, append([]string{"-m", "twine", "upload", "--repository-url", n.URL + "/simple/",
		"--non-interactive", "--disable-progress-bar"}, args...)...)
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
		"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring", "NO_COLOR=1",
	}
	if user != "" {
		cmd.Env = append(cmd.Env, "TWINE_USERNAME="+user, "TWINE_PASSWORD="+pass)
	}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "No module named twine") {
		t.Fatalf("twine is missing (.ci/setup-pypi.sh installs Debian's twine):\n%s", out)
	}
	return string(out), err
}

func mustTwine(t *testing.T, n *noraUnderTest, args ...string) {
	t.Helper()
	if out, err := twine(t, n, testUser, testPass, args...); err != nil {
		t.Fatalf("twine upload %v: %v\n%s", args, err, out)
	}
}

// installedVersion installs reqs with pip through nora into a new target
// and returns the VERSION of module there.
func installedVersion(t *testing.T, n *noraUnderTest, module string, reqs ...string) string {
	t.Helper()
	target := t.TempDir()
	if out, err := pipInstall(t, n, target, reqs...); err != nil {
		t.Fatalf("pip install %v: %v\n%s", reqs, err, out)
	}
	b, err := os.ReadFile(filepath.Join(target, module+".py"))
	if err != nil {
		t.Fatalf("pip install %v did not install %s", reqs, module)
	}
	_, v, _ := strings.Cut(string(b), "VERSION = ")
	return strings.Trim(strings.TrimSpace(v), `'"`)
}

// TestTwineUploadPipInstall: twine uploads to nora, pip installs from it;
// a public acme-lib 9.9.9 upstream never wins over the hosted acme-lib.
func TestTwineUploadPipInstall(t *testing.T) {
	hd := hostedFixtures(t)
	up := newUpstream(t, pypitest.Options{})
	// The public index has an acme-lib too, with a higher version: the
	// dependency confusion attack.
	up.Add("acme-lib", pypitest.File{Name: "acme_lib-9.9.9-py3-none-any.whl", Data: randomBytes(8<<10, 99)})
	up.Add("acme-lib", pypitest.File{Name: "acme-lib-9.9.9.tar.gz", Data: randomBytes(8<<10, 98)})
	cfg := pypiConfig(up)
	cfg.TTL = 0 // a proxied page would be asked upstream on every request
	n := startNoraAuth(t, cfg, authConfig(t, true, true))

	// Proxied until the first upload.
	if resp, body := httpGet(t, n.URL+"/simple/acme-lib/"); resp.StatusCode != 200 || !strings.Contains(string(body), "9.9.9") {
		t.Fatalf("acme-lib before the upload: %d\n%s", resp.StatusCode, body)
	}
	pages := up.PageGets("acme-lib")

	lib := hd["acme-lib 1.0.0"]
	mustTwine(t, n, lib.wheel, lib.sdist)
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.0.0" {
		t.Fatalf("pip installed acme-lib %s, want the hosted 1.0.0", got)
	}
	tool := hd["acme-tool 1.0.0"]
	mustTwine(t, n, tool.wheel, tool.sdist)
	target := t.TempDir()
	if out, err := pipInstall(t, n, target, "acme-tool"); err != nil {
		t.Fatalf("pip install acme-tool: %v\n%s", err, out)
	}
	for _, m := range []string{"acme_tool.py", "acme_lib.py", "acme_dep.py"} {
		if _, err := os.Stat(filepath.Join(target, m)); err != nil {
			t.Fatalf("pip install acme-tool did not install %s", m)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(target, "acme_lib.py")); !strings.Contains(string(b), "1.0.0") {
		t.Fatalf("acme-tool pulled in acme-lib:\n%s", b)
	}
	// The sdist too, through pip download.
	dest := t.TempDir()
	if out, err := pip(t, "download", "--no-cache-dir", "--disable-pip-version-check", "--no-build-isolation", "--no-binary", ":all:",
		"--no-deps", "--index-url", n.URL+"/simple/", "-d", dest, "acme-lib"); err != nil {
		t.Fatalf("pip download the hosted sdist: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, filepath.Base(lib.sdist))); len(got) == 0 {
		t.Fatal("pip download did not save the hosted sdist")
	}

	if got := up.PageGets("acme-lib"); got != pages {
		t.Fatalf("the upstream was asked for acme-lib %d times after it became hosted", got-pages)
	}
	if up.Gets("acme_lib-9.9.9-py3-none-any.whl") != 0 || up.Gets("acme-lib-9.9.9.tar.gz") != 0 {
		t.Fatal("the public acme-lib 9.9.9 was downloaded")
	}

	// Uploading the same files again succeeds, as on PyPI; other bytes
	// under a taken name are refused, and --skip-existing skips them.
	mustTwine(t, n, lib.wheel)
	other := hd["acme-lib 1.0.0 other"]
	out, err := twine(t, n, testUser, testPass, other.wheel)
	if err == nil || !strings.Contains(out, "400") || !strings.Contains(out, "File already exists") {
		t.Fatalf("twine upload of other bytes under a taken name: %v\n%s", err, out)
	}
	t.Logf("twine refused a taken file name:\n%s", out)
	if out, err := twine(t, n, testUser, testPass, "--skip-existing", other.wheel); err != nil || !strings.Contains(out, "Skipping") {
		t.Fatalf("twine upload --skip-existing: %v\n%s", err, out)
	}
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.0.0" {
		t.Fatalf("after the refused upload pip installed acme-lib %s", got)
	}

	// Refusals as twine reports them; nothing is stored.
	next := hd["acme-lib 1.1.0"]
	for _, c := range []struct{ user, pass, want string }{
		{testUser, "wrong", "401"},
		{"nobody", testPass, "401"},
	} {
		out, err := twine(t, n, c.user, c.pass, next.wheel)
		t.Logf("twine as %s: %s", c.user, out)
		if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, "invalid user name or password") {
			t.Fatalf("twine upload as %s/%s: %v\n%s", c.user, c.pass, err, out)
		}
	}
	if resp, _ := httpGet(t, n.URL+"/simple/acme-lib/"+filepath.Base(next.wheel)); resp.StatusCode != 404 {
		t.Fatalf("a refused upload is served: %d", resp.StatusCode)
	}
}

// TestTwineWithoutUsers: with no htpasswd, twine is refused with the hint.
func TestTwineWithoutUsers(t *testing.T) {
	hd := hostedFixtures(t)
	n := startNoraAuth(t, pypi.DefaultConfig(), authConfig(t, false, true))
	out, err := twine(t, n, testUser, testPass, hd["acme-lib 1.0.0"].wheel)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "htpasswd") {
		t.Fatalf("twine upload without htpasswd: %v\n%s", err, out)
	}
}

// TestPipSkipsYanked: a yanked release is skipped by pip unless pinned.
func TestPipSkipsYanked(t *testing.T) {
	hd := hostedFixtures(t)
	n := startNoraAuth(t, pypi.DefaultConfig(), authConfig(t, true, true))
	mustTwine(t, n, hd["acme-lib 1.0.0"].wheel, hd["acme-lib 1.1.0"].wheel, hd["acme-lib 1.1.0"].sdist)
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.1.0" {
		t.Fatalf("pip installed acme-lib %s, want 1.1.0", got)
	}
	yank := func(action, body string) {
		t.Helper()
		resp, text := post(t, n.URL+"/api/pypi/acme-lib/1.1.0/"+action, testUser, testPass, "application/json", []byte(body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", action, resp.StatusCode, text)
		}
	}
	yank("yank", `{"reason": "broken build"}`)
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.0.0" {
		t.Fatalf("pip installed acme-lib %s with 1.1.0 yanked, want 1.0.0", got)
	}
	target := t.TempDir()
	out, err := pipInstall(t, n, target, "acme-lib==1.1.0")
	if err != nil || !strings.Contains(out, "broken build") {
		t.Fatalf("pip install of the pinned yanked release: %v\n%s", err, out)
	}
	yank("unyank", "")
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.1.0" {
		t.Fatalf("pip installed acme-lib %s after the unyank, want 1.1.0", got)
	}
}
