package replicate_test

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"nora/internal/fault"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/replicate"
)

// mavenPut PUTs body to the source as mvn deploy does: the file, then its
// .sha1 and .md5.
func (p *pkgPair) mavenPut(t testing.TB, path string, body []byte) {
	t.Helper()
	s1, m5 := sha1.Sum(body), md5.Sum(body)
	for _, f := range [][2]string{{path, string(body)}, {path + ".sha1", hex.EncodeToString(s1[:])}, {path + ".md5", hex.EncodeToString(m5[:])}} {
		req, err := http.NewRequest(http.MethodPut, p.srcN.URL+f[0], strings.NewReader(f[1]))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("ci", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s: %s", f[0], resp.Status)
		}
	}
}

func pom(g, a, v, packaging string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>` + g + `</groupId><artifactId>` + a + `</artifactId><version>` + v + `</version><packaging>` + packaging + `</packaging></project>
`)
}

// TestMavenCopy: a release deployed to the source (pom, jar, sources,
// checksums) is deployed to the target with the same bytes and
// checksums; a second copy sends nothing; a target refusing the deploy
// fails naming the item; a version with a file of another classifier is
// refused, not copied in part.
func TestMavenCopy(t *testing.T) {
	p := startPkgPair(t, proxy.AppConfig{Maven: maven.DefaultConfig()})
	dir := "/maven2/com/acme/lib/1.0.0/"
	jar, sources := []byte("PK\x03\x04 the classes"), []byte("PK\x03\x04 the sources")
	p.mavenPut(t, dir+"lib-1.0.0.jar", jar)
	p.mavenPut(t, dir+"lib-1.0.0-sources.jar", sources)
	p.mavenPut(t, dir+"lib-1.0.0.pom", pom("com.acme", "lib", "1.0.0", "jar"))
	odd := "/maven2/com/acme/odd/2.0/"
	p.mavenPut(t, odd+"odd-2.0.pom", pom("com.acme", "odd", "2.0", "jar"))
	p.mavenPut(t, odd+"odd-2.0.jar", jar)
	p.mavenPut(t, odd+"odd-2.0-linux.so", []byte("a native library"))

	m := replicate.Maven()
	items := p.list(t, m, func(name, _ string) bool { return name == "com.acme:lib" })
	if len(items) != 1 || items[0].Version != "1.0.0" {
		t.Fatalf("listed %v, want com.acme:lib 1.0.0", items)
	}
	p.refused(t, m, items[0])
	// A run cut off after the jar, before the pom: the version is not
	// there yet, and the next copy completes it.
	req, err := http.NewRequest(http.MethodPut, p.dstN.URL+dir+"lib-1.0.0.jar", strings.NewReader(string(jar)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.dst.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT of the jar alone on the target: %v %v", resp, err)
	}
	p.copyAll(t, m, items)
	for _, f := range []string{"lib-1.0.0.jar", "lib-1.0.0-sources.jar", "lib-1.0.0.pom"} {
		for _, sum := range []string{"", ".sha1", ".md5"} {
			p.sameBytes(t, dir+f+sum)
		}
	}
	if got := string(pkgFetch(t, p.dstN.URL+"/maven2/com/acme/lib/maven-metadata.xml")); !strings.Contains(got, "<version>1.0.0</version>") {
		t.Fatalf("the target's metadata does not list 1.0.0:\n%s", got)
	}

	oddItems := p.list(t, m, func(name, _ string) bool { return name == "com.acme:odd" })
	if len(oddItems) != 1 {
		t.Fatalf("listed %v, want com.acme:odd 2.0", oddItems)
	}
	_, err = m.Copy(t.Context(), p.src, p.dst, oddItems[0], false, nil)
	if !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "com.acme:odd") {
		t.Fatalf("copy of a version with an unknown classifier: %v", err)
	}
	resp, err := http.Head(p.dstN.URL + odd + "odd-2.0.jar")
	if err != nil || resp.StatusCode == http.StatusOK {
		t.Fatalf("a refused version left its jar on the target: %v %v", resp, err)
	}
}

// TestMavenCopySnapshot: of a SNAPSHOT, the latest build's files (every
// classifier its metadata names) are deployed to the target, not older
// builds; a second copy sends nothing.
func TestMavenCopySnapshot(t *testing.T) {
	p := startPkgPair(t, proxy.AppConfig{Maven: maven.DefaultConfig()})
	dir := "/maven2/com/acme/lib/1.1-SNAPSHOT/"
	p.mavenPut(t, dir+"lib-1.1-20261201.101010-1.jar", []byte("PK\x03\x04 build 1"))
	p.mavenPut(t, dir+"lib-1.1-20261201.101010-1.pom", pom("com.acme", "lib", "1.1-SNAPSHOT", "jar"))
	latest := []string{"lib-1.1-20261202.101010-2.jar", "lib-1.1-20261202.101010-2-linux.so", "lib-1.1-20261202.101010-2.pom"}
	p.mavenPut(t, dir+latest[0], []byte("PK\x03\x04 build 2"))
	p.mavenPut(t, dir+latest[1], []byte("a native library"))
	p.mavenPut(t, dir+latest[2], pom("com.acme", "lib", "1.1-SNAPSHOT", "jar"))

	m := replicate.Maven()
	items := p.list(t, m, nil)
	if len(items) != 1 || items[0].Version != "1.1-SNAPSHOT" {
		t.Fatalf("listed %v, want com.acme:lib 1.1-SNAPSHOT", items)
	}
	p.copyAll(t, m, items)
	for _, f := range latest {
		p.sameBytes(t, dir+f)
		p.sameBytes(t, dir+f+".sha1")
	}
	resp, err := http.Head(p.dstN.URL + dir + "lib-1.1-20261201.101010-1.jar")
	if err != nil || resp.StatusCode == http.StatusOK {
		t.Fatalf("an older build was copied: %v %v", resp, err)
	}
	if got := string(pkgFetch(t, p.dstN.URL+dir+"maven-metadata.xml")); !strings.Contains(got, "<value>1.1-20261202.101010-2</value>") {
		t.Fatalf("the target's snapshot metadata:\n%s", got)
	}
}
