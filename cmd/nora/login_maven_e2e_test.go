package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth/oidc/oidctest"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// mavenJobSettings is a CI job's settings.xml before nora login: plugins
// resolve through nora (anonymously: the mirror is not the id nora login
// writes a <server> for) and a comment must survive the merge.
const mavenJobSettings = `<?xml version="1.0" encoding="UTF-8"?>
<settings>
  <!-- the job's own settings -->
  <mirrors>
    <mirror>
      <id>nora-mirror</id>
      <mirrorOf>*</mirrorOf>
      <url>NORA</url>
    </mirror>
  </mirrors>
</settings>
`

// mavenLib is a library whose releases deploy to the repository id nora.
const mavenLib = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>GROUP</groupId>
  <artifactId>lib</artifactId>
  <version>1.0</version>
  <packaging>pom</packaging>
  <distributionManagement>
    <repository>
      <id>nora</id>
      <url>NORA</url>
    </repository>
  </distributionManagement>
</project>
`

// TestLoginThenDeploy: the <server> nora login merges into a job's
// settings.xml is what mvn deploy uses, within the rule's groups only.
func TestLoginThenDeploy(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	up := maventest.New(t, maventest.DebianRepo)
	is := oidctest.New(t)
	ac := oidcAuth(is, true, "push:maven:com.frontend:*")
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: up.URL}}
	n := proxytest.Start(t, proxy.AppConfig{Maven: mc, Auth: &ac})
	base := n.URL + "/maven2/"

	home := t.TempDir()
	settings := filepath.Join(home, ".m2", "settings.xml")
	os.MkdirAll(filepath.Dir(settings), 0o755)
	if err := os.WriteFile(settings, []byte(strings.Replace(mavenJobSettings, "NORA", base, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	loginAsJob(t, is, n, home, "org/frontend-web")
	if b, _ := os.ReadFile(settings); !strings.Contains(string(b), "<!-- the job's own settings -->") || !strings.Contains(string(b), "<id>nora-mirror</id>") {
		t.Fatalf("settings.xml lost the job's own entries:\n%s", b)
	}

	localRepo := filepath.Join(t.TempDir(), "repo") // plugins resolve once
	deploy := func(group string) func() (string, error) {
		return func() (string, error) {
			project := t.TempDir()
			pom := strings.NewReplacer("GROUP", group, "NORA", base).Replace(mavenLib)
			if err := os.WriteFile(filepath.Join(project, "pom.xml"), []byte(pom), 0o644); err != nil {
				t.Fatal(err)
			}
			// Java's user.home is the passwd entry's, not HOME: -s names the
			// written file; nothing of the machine's settings applies.
			global := filepath.Join(home, "global-settings.xml")
			os.WriteFile(global, []byte("<settings/>\n"), 0o644)
			return runClient(project, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "MAVEN_SKIP_RC=1",
				"LANG=C.UTF-8", "MAVEN_OPTS=-XX:TieredStopAtLevel=1"},
				"mvn", "-B", "-s", settings, "-gs", global, "-Dmaven.repo.local="+localRepo, "-Dstyle.color=never", "--no-transfer-progress", "deploy")
		}
	}
	mustPush(t, "mvn deploy", "403", deploy("com.frontend"), deploy("com.backend"))
}
