package pypitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python is the interpreter that builds fixtures and runs pip in the
// tests: Debian's, with setuptools, wheel and pip (.ci/setup-pypi.sh).
const Python = "/usr/bin/python3"

// Project is a tiny pure-Python project to build.
type Project struct {
	Name           string // as written in setup.py, any spelling
	Version        string
	Requires       []string
	RequiresPython string
}

// Build writes p's sources under dir and builds its wheel and sdist with
// setuptools; it returns their paths.
func Build(t testing.TB, dir string, p Project) (wheel, sdist string) {
	t.Helper()
	src := filepath.Join(dir, "src-"+Normalize(p.Name))
	out := filepath.Join(dir, "dist-"+Normalize(p.Name))
	module := strings.ReplaceAll(Normalize(p.Name), "-", "_")
	reqs := ""
	for _, r := range p.Requires {
		reqs += fmt.Sprintf("%q, ", r)
	}
	setup := fmt.Sprintf(`from setuptools import setup
setup(name=%q, version=%q, py_modules=[%q], install_requires=[%s], python_requires=%q,
      description="nora test fixture", author="nora tests", license="MIT")
`, p.Name, p.Version, module, reqs, p.RequiresPython)
	files := map[string]string{
		"setup.py":     setup,
		module + ".py": fmt.Sprintf("NAME = %q\nVERSION = %q\n", p.Name, p.Version),
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(Python); err != nil {
		t.Fatalf("%s is missing (.ci/setup-pypi.sh installs it): %v", Python, err)
	}
	cmd := exec.Command(Python, "setup.py", "-q", "sdist", "-d", out, "bdist_wheel", "-d", out)
	cmd.Dir = src
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "PYTHONDONTWRITEBYTECODE=1"}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build %s (python3-setuptools and python3-wheel from .ci/setup-pypi.sh): %v\n%s", p.Name, err, b)
	}
	for _, pat := range []string{"*.whl", "*.tar.gz"} {
		m, _ := filepath.Glob(filepath.Join(out, pat))
		if len(m) != 1 {
			t.Fatalf("building %s made %v for %s", p.Name, m, pat)
		}
		if pat == "*.whl" {
			wheel = m[0]
		} else {
			sdist = m[0]
		}
	}
	return wheel, sdist
}
