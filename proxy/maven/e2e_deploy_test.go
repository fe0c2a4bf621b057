package maven_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// withServer adds nora's credentials to the user settings, as CI does for
// `mvn deploy` (the <server> id is distributionManagement's, and the
// mirror's: reads send them too).
func withServer(settings, user, pass string) string {
	return strings.Replace(settings, "<settings>", `<settings>
  <servers>
    <server>
      <id>nora</id>
      <username>`+user+`</username>
      <password>`+pass+`</password>
    </server>
  </servers>`, 1)
}

// runMvn runs mvn in project with the given user settings and local
// repository, isolated from the machine as mvnBuild is.
func runMvn(t *testing.T, project, settings, localRepo string, args ...string) (string, error) {
	t.Helper()
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		t.Fatalf("mvn is not installed (.ci/setup-maven.sh installs it): %v", err)
	}
	work := t.TempDir()
	home, user, global := filepath.Join(work, "home"), filepath.Join(work, "settings.xml"), filepath.Join(work, "global-settings.xml")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(user, []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(global, []byte(globalSettings), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mvn, append([]string{"-B", "-s", user, "-gs", global, "-Dmaven.repo.local=" + localRepo,
		"-Dstyle.color=never", "--no-transfer-progress"}, args...)...)
	cmd.Dir = project
	// C1 only: these JVMs live seconds, and full JIT costs more than it saves.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + work, "MAVEN_SKIP_RC=1", "LANG=C.UTF-8",
		"MAVEN_OPTS=-XX:TieredStopAtLevel=1"}
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// fromTemplate copies a testdata project and fills in its placeholders.
func fromTemplate(t *testing.T, name string, repl map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	copyTree(t, filepath.Join("testdata", name), dir)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b := mustRead(t, p)
		for k, v := range repl {
			b = bytes.ReplaceAll(b, []byte(k), []byte(v))
		}
		return os.WriteFile(p, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMavenDeployThroughNora publishes a library with the real `mvn
// deploy` (a release and two builds of a SNAPSHOT), then builds a project
// that depends on it through nora. The upstream also has com.acme:lib, at
// a higher version: the dependency-confusion case.
func TestMavenDeployThroughNora(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	up := confusionUpstream(t)
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := startNoraAuth(t, maven.DefaultConfig(), ac, up.URL)
	reader := strings.Replace(userSettings, "NORA", n.base(), 1)
	deployer := withServer(reader, "ci", "secret")
	deployRepo := filepath.Join(t.TempDir(), "repo") // shared by the deploys: plugins resolve once
	deploy := func(settings, version, build string) (string, error) {
		t.Helper()
		project := fromTemplate(t, "lib", map[string]string{"VERSION": version, "NORA": n.base(), "BUILD": build})
		return runMvn(t, project, settings, deployRepo, "deploy")
	}
	const dir = "com/acme/lib/"

	if out, err := deploy(deployer, "1.0", "release-1.0"); err != nil {
		t.Fatalf("mvn deploy 1.0: %v\n%s", err, lastLines(out, 60))
	}
	released := mustRead(t, filepath.Join(deployRepo, dir+"1.0/lib-1.0.jar"))
	// Until this first deploy the name was not hosted: mvn read the
	// upstream's metadata through nora (and merged its 9.9 into the
	// metadata it sent, which nora does not serve). From now on upstream
	// is never asked about com.acme:lib.
	asked := up.Requests(dir)

	for _, build := range []string{"snapshot-1", "snapshot-2"} {
		if out, err := deploy(deployer, "1.1-SNAPSHOT", build); err != nil {
			t.Fatalf("mvn deploy 1.1-SNAPSHOT (%s): %v\n%s", build, err, lastLines(out, 60))
		}
	}
	_, meta := send(t, "GET", n.base()+dir+"maven-metadata.xml", "", "", "")
	for _, want := range []string{"<version>1.0</version>", "<version>1.1-SNAPSHOT</version>", "<release>1.0</release>", "<latest>1.1-SNAPSHOT</latest>"} {
		if !strings.Contains(meta, want) {
			t.Fatalf("artifact metadata lacks %s:\n%s", want, meta)
		}
	}
	if strings.Contains(meta, "9.9") {
		t.Fatalf("artifact metadata has the upstream's version:\n%s", meta)
	}
	_, snapMeta := send(t, "GET", n.base()+dir+"1.1-SNAPSHOT/maven-metadata.xml", "", "", "")
	if !strings.Contains(snapMeta, "<buildNumber>2</buildNumber>") {
		t.Fatalf("SNAPSHOT metadata:\n%s", snapMeta)
	}
	// The non-unique name is the latest build: what mvn installed last.
	latest := mustRead(t, filepath.Join(deployRepo, dir+"1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar"))
	if resp, got := send(t, "GET", n.base()+dir+"1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar", "", "", ""); resp.StatusCode != 200 || got != string(latest) {
		t.Fatalf("non-unique SNAPSHOT GET: %d, %d bytes, want the second build", resp.StatusCode, len(got))
	}

	// A release is immutable: rebuilt bytes are refused, the first stay.
	if out, err := deploy(deployer, "1.0", "release-1.0-rebuilt"); err == nil || !strings.Contains(out, "409") {
		t.Fatalf("redeploy of 1.0 with other bytes: %v, want a failure naming 409\n%s", err, lastLines(out, 30))
	}
	if resp, got := send(t, "GET", n.base()+dir+"1.0/lib-1.0.jar", "", "", ""); resp.StatusCode != 200 || got != string(released) {
		t.Fatalf("1.0 changed after a refused redeploy: %d", resp.StatusCode)
	}
	// Wrong password: refused, nothing deployed.
	if out, err := deploy(withServer(reader, "ci", "wrong"), "1.2", "release-1.2"); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("deploy with a wrong password: %v, want a failure naming 401\n%s", err, lastLines(out, 30))
	}
	if resp, _ := send(t, "GET", n.base()+dir+"1.2/lib-1.2.pom", "", "", ""); resp.StatusCode != 404 {
		t.Fatalf("1.2 after a refused deploy: %d", resp.StatusCode)
	}

	// A consumer resolves the SNAPSHOT, then the range [1.0,), through
	// nora with a fresh local repository each time, anonymously. Maven 3
	// counts SNAPSHOTs in ranges, so the range picks 1.1-SNAPSHOT; what
	// matters is that the upstream's 9.9 is never a candidate.
	consume := func(dependency, expect string) string {
		t.Helper()
		project := fromTemplate(t, "consumer", map[string]string{"DEPENDENCY": dependency})
		// The plugins the deploys resolved, to save time; not com.acme,
		// which must come through nora.
		localRepo := filepath.Join(t.TempDir(), "repo")
		copyTree(t, deployRepo, localRepo)
		if err := os.RemoveAll(filepath.Join(localRepo, "com", "acme")); err != nil {
			t.Fatal(err)
		}
		if out, err := runMvn(t, project, reader, localRepo, "-Dexpect="+expect, "package"); err != nil {
			t.Fatalf("consumer of %s: %v\n%s", dependency, err, lastLines(out, 60))
		}
		return localRepo
	}
	consume("1.1-SNAPSHOT", "snapshot-2")
	localRepo := consume("[1.0,)", "snapshot-2")
	if _, err := os.Stat(filepath.Join(localRepo, dir+"9.9")); !os.IsNotExist(err) {
		t.Fatalf("the upstream's com.acme:lib:9.9 reached the build: %v", err)
	}
	if got := up.Requests(dir); got != asked {
		t.Fatalf("upstream asked %d times about com.acme:lib after it became hosted", got-asked)
	}
}
