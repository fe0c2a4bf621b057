package maventest

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Fixture coordinates. The fixtures are built from scratch by
// BuildFixtures with the JDK's javac.
const (
	Group = "org.example.nora"
	// Greeting has releases 1.0.0 and 1.2.0 of a library with one class,
	// org.example.nora.Greeting (static String hello(String)).
	Greeting = "greeting"
	// Util has one unique SNAPSHOT build of 0.1-SNAPSHOT.
	Util          = "util"
	UtilVersion   = "0.1-SNAPSHOT"
	UtilTimestamp = "0.1-20240102.030405-1"
)

// GreetingJar is the repository path of greeting's jar at version v.
func GreetingJar(v string) string {
	return "org/example/nora/greeting/" + v + "/greeting-" + v + ".jar"
}

// UtilJar is the repository path of util's one snapshot jar.
func UtilJar() string {
	return "org/example/nora/util/" + UtilVersion + "/util-" + UtilTimestamp + ".jar"
}

const greetingSource = `package org.example.nora;

public final class Greeting {
    private Greeting() {}

    public static String hello(String who) {
        return "hello, " + who;
    }
}
`

// BuildFixtures compiles and lays out the fixture artifacts under dir, a
// repository root for New.
func BuildFixtures(t testing.TB, dir string) {
	t.Helper()
	class := greetingClass(t)
	for _, v := range []string{"1.0.0", "1.2.0"} {
		base := filepath.Join(dir, "org/example/nora/greeting", v, "greeting-"+v)
		mustWrite(t, base+".jar", jar(t, v, map[string][]byte{"org/example/nora/Greeting.class": class}))
		mustWrite(t, base+".pom", pom(Greeting, v))
	}
	base := filepath.Join(dir, "org/example/nora/util", UtilVersion, "util-"+UtilTimestamp)
	mustWrite(t, base+".jar", jar(t, UtilVersion, map[string][]byte{"org/example/nora/util.properties": []byte("util=" + UtilTimestamp + "\n")}))
	mustWrite(t, base+".pom", pom(Util, UtilVersion))
	mustWrite(t, filepath.Join(dir, "org/example/nora/util", UtilVersion, "maven-metadata.xml"), []byte(`<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>org.example.nora</groupId>
  <artifactId>util</artifactId>
  <version>0.1-SNAPSHOT</version>
  <versioning>
    <snapshot>
      <timestamp>20240102.030405</timestamp>
      <buildNumber>1</buildNumber>
    </snapshot>
    <lastUpdated>20240102030405</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>0.1-20240102.030405-1</value>
        <updated>20240102030405</updated>
      </snapshotVersion>
      <snapshotVersion>
        <extension>pom</extension>
        <value>0.1-20240102.030405-1</value>
        <updated>20240102030405</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>
`))
}

// compiled holds Greeting.class once javac made it: every test of the
// process lays out the same bytes.
var compiled struct {
	sync.Mutex
	class []byte
}

func greetingClass(t testing.TB) []byte {
	t.Helper()
	compiled.Lock()
	defer compiled.Unlock()
	if compiled.class != nil {
		return compiled.class
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Fatalf("javac is not installed (.ci/setup-maven.sh installs it): %v", err)
	}
	src := t.TempDir()
	out := filepath.Join(src, "classes")
	mustWrite(t, filepath.Join(src, "org/example/nora/Greeting.java"), []byte(greetingSource))
	cmd := exec.Command(javac, "--release", "11", "-d", out, filepath.Join(src, "org/example/nora/Greeting.java"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + src}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	class, err := os.ReadFile(filepath.Join(out, "org/example/nora/Greeting.class"))
	if err != nil {
		t.Fatal(err)
	}
	compiled.class = class
	return class
}

func pom(artifact, version string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>` + Group + `</groupId>
  <artifactId>` + artifact + `</artifactId>
  <version>` + version + `</version>
  <packaging>jar</packaging>
</project>
`)
}

// jar zips files behind a manifest naming version.
func jar(t testing.TB, version string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := z.Create(name)
		if err == nil {
			_, err = w.Write(b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	add("META-INF/MANIFEST.MF", []byte("Manifest-Version: 1.0\r\nImplementation-Version: "+version+"\r\n\r\n"))
	for name, b := range files {
		add(name, b)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WriteFile writes a file of a repository root (for tests that need more
// fixtures, such as a large artifact).
func WriteFile(t testing.TB, root, rel string, b []byte) {
	t.Helper()
	mustWrite(t, filepath.Join(root, filepath.FromSlash(rel)), b)
}

func mustWrite(t testing.TB, file string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
