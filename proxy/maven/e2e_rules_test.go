package maven_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nora/auth"
	"nora/auth/authtest"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
)

// TestRulesMatrix drives the access matrix of issue 12 with mvn:
// anonymous, reader, a writer of another group, writer and admin × deploy
// and a build that depends on com.acme:lib (Maven has no delete). Exactly
// the allowed cells succeed; the others fail with the 401 or 403 mvn
// reports.
func TestRulesMatrix(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	up := maventest.New(t, t.TempDir(), maventest.DebianRepo)
	n := startNoraAuth(t, maven.DefaultConfig(), authtest.Config(t, "maven", "com.acme:*", "com.other:*"), up.URL)
	reader := strings.Replace(userSettings, "NORA", n.base(), 1)
	settings := func(s authtest.Subject) string {
		if s.User == "" {
			return reader
		}
		return withServer(reader, s.User, s.Pass)
	}
	version := func(s authtest.Subject) string {
		return fmt.Sprintf("1.0.%d", slices.Index(authtest.Subjects, s))
	}
	deploy := func(s authtest.Subject, localRepo, version string) (string, error) {
		project := fromTemplate(t, "lib", map[string]string{"VERSION": version, "NORA": n.base(), "BUILD": "build-" + version})
		return runMvn(t, project, settings(s), localRepo, "deploy")
	}
	build := func(s authtest.Subject, localRepo, version string) (string, error) {
		project := fromTemplate(t, "consumer", map[string]string{"DEPENDENCY": version})
		return runMvn(t, project, settings(s), localRepo, "-Dexpect=build-"+version, "package")
	}
	// The plugins and test dependencies, resolved once by the admin (who
	// may read them; the writers may read com.acme alone), then copied
	// for every cell without com.acme, which must come through nora.
	warm := filepath.Join(t.TempDir(), "repo")
	if out, err := deploy(authtest.Admin, warm, "0.9"); err != nil {
		t.Fatalf("warm-up deploy: %v\n%s", err, lastLines(out, 60))
	}
	if out, err := build(authtest.Admin, warm, "0.9"); err != nil {
		t.Fatalf("warm-up build: %v\n%s", err, lastLines(out, 60))
	}
	repo := func() string {
		dir := filepath.Join(t.TempDir(), "repo")
		copyTree(t, warm, dir)
		if err := os.RemoveAll(filepath.Join(dir, "com", "acme")); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	errs := authtest.Errors{Unauthorized: []string{"status code: 401", "401 Unauthorized"}, Forbidden: []string{"status code: 403", "403 Forbidden"}}
	authtest.Row(t, auth.Push, errs, func(s authtest.Subject) (string, error) { return deploy(s, repo(), version(s)) })
	authtest.Row(t, auth.Pull, errs, func(s authtest.Subject) (string, error) { return build(s, repo(), version(authtest.Writer)) })
}
