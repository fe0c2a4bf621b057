package maven

import (
	"strings"
	"testing"

	"nora/cache"
)

func TestParsePath(t *testing.T) {
	f := func(in, wantFile, wantSum string, wantKind kind, wantName string) {
		t.Helper()
		r, err := parsePath(in)
		if err != nil {
			t.Fatalf("parsePath(%q): %v", in, err)
		}
		if r.file != wantFile || r.sum != wantSum || r.kind != wantKind || r.name != wantName {
			t.Fatalf("parsePath(%q) = %+v, want file %q sum %q kind %d name %q", in, r, wantFile, wantSum, wantKind, wantName)
		}
		if r.path() != in {
			t.Fatalf("parsePath(%q).path() = %q", in, r.path())
		}
	}
	const jar = "org/apache/maven/plugins/maven-jar-plugin/3.3.0/maven-jar-plugin-3.3.0.jar"
	f(jar, jar, "", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f(jar+".sha1", jar, "sha1", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f(jar+".md5", jar, "md5", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f(jar+".sha512", jar, "sha512", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f(jar+".asc", jar+".asc", "", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f(jar+".asc.sha256", jar+".asc", "sha256", kindArtifact, "org.apache.maven.plugins:maven-jar-plugin")
	f("junit/junit/4.13.2/junit-4.13.2.pom", "junit/junit/4.13.2/junit-4.13.2.pom", "", kindArtifact, "junit:junit")
	f("g/a/1.0/a-1.0-sources.jar", "g/a/1.0/a-1.0-sources.jar", "", kindArtifact, "g:a")
	f("g/a/1.0/a-1.0.module", "g/a/1.0/a-1.0.module", "", kindArtifact, "g:a")
	f("g/a/1.0/a-1.0.tar.gz", "g/a/1.0/a-1.0.tar.gz", "", kindArtifact, "g:a")
	f("g/a/debian/a-debian.jar", "g/a/debian/a-debian.jar", "", kindArtifact, "g:a")
	f("g/a/1.0+build~1/a-1.0+build~1.jar", "g/a/1.0+build~1/a-1.0+build~1.jar", "", kindArtifact, "g:a")
	// Metadata at every level, and its checksums.
	f("g/a/maven-metadata.xml", "g/a/maven-metadata.xml", "", kindDoc, "g/a")
	f("g/a/maven-metadata.xml.sha1", "g/a/maven-metadata.xml", "sha1", kindDoc, "g/a")
	f("org/apache/maven/plugins/maven-metadata.xml", "org/apache/maven/plugins/maven-metadata.xml", "", kindDoc, "org/apache/maven/plugins")
	f("g/a/1.0-SNAPSHOT/maven-metadata.xml", "g/a/1.0-SNAPSHOT/maven-metadata.xml", "", kindDoc, "g/a/1.0-SNAPSHOT")
	// SNAPSHOTs: timestamped files are immutable, non-unique ones are not.
	f("g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-7.jar", "g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-7.jar", "", kindArtifact, "g:a")
	f("g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-7-tests.jar.md5", "g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-7-tests.jar", "md5", kindArtifact, "g:a")
	f("g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar", "g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar", "", kindDoc, "g:a")
	f("g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.pom.sha1", "g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.pom", "sha1", kindDoc, "g:a")
}

func TestParsePathRefuses(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if r, err := parsePath(in); err == nil {
			t.Fatalf("parsePath(%q) = %+v, want an error", in, r)
		}
	}
	f("")
	f("/g/a/1.0/a-1.0.jar")
	f("g/a/1.0/a-1.0.jar/")
	f("g//a/1.0/a-1.0.jar")
	f("g/./a/1.0/a-1.0.jar")
	f("g/../a/1.0/a-1.0.jar")
	f("g/a/1.0/..")
	f("g/.hidden/1.0/.hidden-1.0.jar")
	f("g/a/1.0/a-1.0.jar%00")
	f("g/a%2f/1.0/a-1.0.jar")
	f("g\\a/1.0/a-1.0.jar")
	f("g/a/1.0/a-1.0.jar\x00")
	f("g/a b/1.0/a b-1.0.jar")
	f("g/a@/1.0/a@-1.0.jar")
	f("a/1.0/a-1.0.jar")    // no groupId
	f("g/a/1.0/b-1.0.jar")  // another artifact's file
	f("g/a/1.0/a-1.1.jar")  // another version's file
	f("g/a/1.0/a-1.0")      // no extension
	f("g/a/1.0/a-1.0.")     // empty extension
	f("g/a/1.0/a-1.0x.jar") // version runs on
	f("g/a/1.0/a-1.0.jar.sha1.md5")
	f("g/a/1.0-SNAPSHOT/a-1.0-2024.jar")
	f("g/a/1.0-SNAPSHOT/a-1.0-20240102.0304-1.jar")
	f("g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-.jar")
	f("g/a/1.0-SNAPSHOT/a-1.0.jar")
	f("maven-metadata.xml")
	f("g/a/maven-metadata.xml.sha1.sha1")
	f(strings.Repeat("g/", 70) + "a/1/a-1.jar")
	f(strings.Repeat("x", 256) + "/a/1/a-1.jar")
	f("g/" + strings.Repeat("a", 760) + "/1/a-1.jar")
}

func TestParseChecksum(t *testing.T) {
	const h = "0123456789abcdef0123456789abcdef01234567"
	f := func(in, alg, want string) {
		t.Helper()
		got, err := parseChecksum([]byte(in), alg)
		if want == "" {
			if err == nil {
				t.Fatalf("parseChecksum(%q, %s) = %q, want an error", in, alg, got)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("parseChecksum(%q, %s) = %q, %v; want %q", in, alg, got, err, want)
		}
	}
	f(h, "sha1", h)
	f(h+"\n", "sha1", h)
	f(strings.ToUpper(h)+"\r\n", "sha1", h)
	f(h+"  junit-4.13.2.jar\n", "sha1", h)
	f(h+" *junit-4.13.2.jar", "sha1", h)
	f("\n\n  "+h+"\n", "sha1", h)
	f("SHA1(junit-4.13.2.jar)= "+h+"\n", "sha1", h)
	f("0123456789abcdef0123456789abcdef", "md5", "0123456789abcdef0123456789abcdef")
	f("", "sha1", "")
	f("\n \n", "sha1", "")
	f(h[:39], "sha1", "")
	f(h+"0", "sha1", "")
	f("z"+h[1:], "sha1", "")
	f("<html>not found</html>", "sha1", "")
	f(h, "md5", "")
	f(h, "crc32", "")
}

func TestCheckMetadata(t *testing.T) {
	f := func(in string, ok bool) {
		t.Helper()
		if err := checkMetadata([]byte(in)); (err == nil) != ok {
			t.Fatalf("checkMetadata(%q) = %v, want ok=%v", in, err, ok)
		}
	}
	f(`<?xml version="1.0"?><metadata><groupId>g</groupId></metadata>`, true)
	f(`<metadata modelVersion="1.1.0"/>`, true)
	f(`<metadata><versioning>`, false)
	f(`<html><body>error</body></html>`, false)
	f(`<metadata/><metadata/>`, false)
	f(``, false)
	f(`not xml`, false)
}

// FuzzParsePath checks that whatever parsePath accepts round-trips and
// makes cache keys the store accepts, built only from safe characters.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"org/apache/maven/plugins/maven-jar-plugin/3.3.0/maven-jar-plugin-3.3.0.jar",
		"g/a/maven-metadata.xml.sha1", "g/a/1.0-SNAPSHOT/a-1.0-20240102.030405-7-tests.jar.md5",
		"g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.pom", "g/../a/1/a-1.jar", "g//a", "g/a/1.0/a-1.0.jar.sha1.md5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parsePath(s)
		if err != nil {
			return
		}
		if r.path() != s {
			t.Fatalf("parsePath(%q).path() = %q", s, r.path())
		}
		if r.kind != kindArtifact && r.kind != kindDoc {
			t.Fatalf("parsePath(%q): kind %d", s, r.kind)
		}
		if strings.ContainsAny(s, "@%\\\x00 ") || strings.HasPrefix(s, ".") || strings.Contains(s, "/.") {
			t.Fatalf("parsePath(%q) accepted an unsafe path", s)
		}
		u := &upstreamRepo{id: "0123456789abcdef"}
		for _, key := range []string{fileKey(r.file), docKey(u, r.path())} {
			if err := cache.CheckKey(key); err != nil {
				t.Fatalf("parsePath(%q): key %q: %v", s, key, err)
			}
		}
	})
}

func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{
		"0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567  a.jar\n",
		"SHA1(a.jar)= 0123456789abcdef0123456789abcdef01234567", "", "= ", "x= y z",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for alg, n := range sumHexLen {
			sum, err := parseChecksum(b, alg)
			if err != nil {
				continue
			}
			if len(sum) != n || strings.Trim(sum, "0123456789abcdef") != "" {
				t.Fatalf("parseChecksum(%q, %s) = %q", b, alg, sum)
			}
		}
	})
}

func FuzzCheckMetadata(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><metadata><versioning><versions><version>1</version></versions></versioning></metadata>`))
	f.Add([]byte(`<metadata/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = checkMetadata(b) // must not panic or hang
	})
}
