package maven_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
)

// The end-to-end test builds a small project with the real mvn through an
// in-process nora in front of two test repositories: the first holds the
// fixtures the project depends on, the second Debian's Maven plugins.

// globalSettings stands in for the machine's global settings.xml: only the
// mirror Maven 3.8 ships there, which blocks external plain-http
// repositories. nora's mirrorOf "*" must win over it.
const globalSettings = `<settings>
  <mirrors>
    <mirror>
      <id>maven-default-http-blocker</id>
      <mirrorOf>external:http:*</mirrorOf>
      <url>http://0.0.0.0/</url>
      <blocked>true</blocked>
    </mirror>
  </mirrors>
</settings>
`

// userSettings sends everything to nora and lets "central" serve
// snapshots (the super POM's central refuses them), failing on any
// checksum mismatch.
const userSettings = `<settings>
  <mirrors>
    <mirror>
      <id>nora</id>
      <mirrorOf>*</mirrorOf>
      <url>NORA</url>
    </mirror>
  </mirrors>
  <profiles>
    <profile>
      <id>nora</id>
      <repositories>
        <repository>
          <id>central</id>
          <url>http://central</url>
          <releases><enabled>true</enabled><checksumPolicy>fail</checksumPolicy></releases>
          <snapshots><enabled>true</enabled><checksumPolicy>fail</checksumPolicy></snapshots>
        </repository>
      </repositories>
      <pluginRepositories>
        <pluginRepository>
          <id>central</id>
          <url>http://central</url>
          <releases><enabled>true</enabled><checksumPolicy>fail</checksumPolicy></releases>
          <snapshots><enabled>true</enabled><checksumPolicy>fail</checksumPolicy></snapshots>
        </pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles>
    <activeProfile>nora</activeProfile>
  </activeProfiles>
</settings>
`

// mvnBuild runs `mvn package` on a fresh copy of testdata/app with a fresh
// local repository, isolated from the machine: its own HOME, settings and
// global settings, no mavenrc, no MAVEN_OPTS.
func mvnBuild(t *testing.T, n *noraUnderTest) (project, localRepo, out string, err error) {
	t.Helper()
	mvn, lerr := exec.LookPath("mvn")
	if lerr != nil {
		t.Fatalf("mvn is not installed (.ci/setup-maven.sh installs it): %v", lerr)
	}
	work := t.TempDir()
	project, localRepo, home := filepath.Join(work, "app"), filepath.Join(work, "repo"), filepath.Join(work, "home")
	copyTree(t, "testdata/app", project)
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	user, global := filepath.Join(work, "settings.xml"), filepath.Join(work, "global-settings.xml")
	if err := os.WriteFile(user, []byte(strings.Replace(userSettings, "NORA", n.base(), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(global, []byte(globalSettings), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mvn, "-B", "-s", user, "-gs", global, "-Dmaven.repo.local="+localRepo,
		"-Dstyle.color=never", "--no-transfer-progress", "package")
	cmd.Dir = project
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + work, "MAVEN_SKIP_RC=1", "LANG=C.UTF-8"}
	b, err := cmd.CombinedOutput()
	return project, localRepo, string(b), err
}

func TestMavenBuildThroughNora(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	fixtures := t.TempDir()
	maventest.BuildFixtures(t, fixtures)
	first := maventest.New(t, fixtures)
	second := maventest.New(t, maventest.DebianRepo)
	cfg := maven.DefaultConfig()
	cfg.TTL = 0 // revalidate metadata on every request: the offline build must serve it stale
	n := startNora(t, cfg, first.URL, second.URL)

	project, localRepo, out, err := mvnBuild(t, n)
	if err != nil {
		t.Fatalf("mvn package through nora: %v\n%s", err, lastLines(out, 60))
	}
	if _, err := os.Stat(filepath.Join(project, "target", "app-1.0.jar")); err != nil {
		t.Fatalf("no jar built: %v", err)
	}
	// The range [1.0,2.0) resolved through the fixture's maven-metadata.xml.
	if _, err := os.Stat(filepath.Join(localRepo, filepath.FromSlash(maventest.GreetingJar("1.2.0")))); err != nil {
		t.Fatalf("greeting 1.2.0 was not resolved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(localRepo, "org/example/nora/util", maventest.UtilVersion)); err != nil {
		t.Fatalf("util %s was not resolved: %v", maventest.UtilVersion, err)
	}
	// Upstreams are tried in order: plugins miss in the first, hit in the
	// second; fixtures hit in the first and never reach the second.
	plugin := "org/apache/maven/plugins/maven-surefire-plugin/2.22.3/maven-surefire-plugin-2.22.3.jar"
	if first.Gets(plugin) != 1 || second.Gets(plugin) != 1 {
		t.Errorf("surefire plugin GETs: first %d, second %d; want 1 and 1", first.Gets(plugin), second.Gets(plugin))
	}
	if g := maventest.GreetingJar("1.2.0"); first.Gets(g) != 1 || second.Gets(g) != 0 {
		t.Errorf("greeting GETs: first %d, second %d; want 1 and 0", first.Gets(g), second.Gets(g))
	}
	if !n.cached(plugin) || !n.cached(maventest.UtilJar()) {
		t.Fatal("artifacts were not cached")
	}

	// Both upstreams down: a fresh local repository builds from nora alone.
	first.Stop()
	second.Stop()
	if _, _, out, err := mvnBuild(t, n); err != nil {
		t.Fatalf("mvn package with upstreams down: %v\n%s", err, lastLines(out, 60))
	}
	resp, _ := fetch(t, "GET", n.base()+"org/example/nora/greeting/maven-metadata.xml")
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" {
		t.Fatalf("metadata with upstream down: %d, X-Nora-Stale %q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
}
