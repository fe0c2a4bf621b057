package maven

import (
	"errors"
	"testing"

	"nora/internal/fault"
)

func TestParseBuild(t *testing.T) {
	f := func(name string, want build, wantOK bool) {
		t.Helper()
		got, ok := parseBuild("lib", "1.1-SNAPSHOT", name)
		if ok != wantOK || got != want {
			t.Fatalf("parseBuild(%q) = %+v %v, want %+v %v", name, got, ok, want, wantOK)
		}
	}
	f("lib-1.1-20240102.030405-7.jar", build{"20240102.030405", 7, ".jar"}, true)
	f("lib-1.1-20240102.030405-12-sources.jar", build{"20240102.030405", 12, "-sources.jar"}, true)
	f("lib-1.1-20240102.030405-1.tar.gz", build{"20240102.030405", 1, ".tar.gz"}, true)
	f("lib-1.1-20240102.030405-1.jar.asc", build{"20240102.030405", 1, ".jar.asc"}, true)
	f("lib-1.1-SNAPSHOT.jar", build{}, false)
	f("lib-1.1-20240102.030405.jar", build{}, false)
	f("lib-1.1-20240102.030405-.jar", build{}, false)
	f("lib-1.1-20240102.030405-1", build{}, false)
	f("lib-1.1-20240102.030405-1-.jar", build{}, false)
	f("lib-1.1-2024010.0304050-1.jar", build{}, false)
	f("other-1.1-20240102.030405-1.jar", build{}, false)
	f("lib-1.2-20240102.030405-1.jar", build{}, false)
	if got := (build{"20240102.030405", 7, ".jar"}).value("1.1-SNAPSHOT"); got != "1.1-20240102.030405-7" {
		t.Fatalf("value = %q", got)
	}
}

func TestCoordCheck(t *testing.T) {
	f := func(group, artifact, version, file string, ok bool) {
		t.Helper()
		err := Coord{group, artifact, version, file}.check()
		if (err == nil) != ok || (err != nil && !errors.Is(err, fault.Invalid)) {
			t.Fatalf("check(%s/%s/%s/%s) = %v, want ok=%v", group, artifact, version, file, err, ok)
		}
	}
	f("com/acme", "lib", "1.0", "lib-1.0.jar", true)
	f("com/acme", "lib", "1.0", "lib-1.0-sources.jar", true)
	f("com/acme", "lib", "1.0", "lib-1.0.pom.asc", true)
	f("com", "lib", "1.0", "lib-1.0.pom", true)
	f("com/acme", "lib", "1.1-SNAPSHOT", "lib-1.1-20240102.030405-1.pom", true)
	f("com/acme", "lib", "1.1-SNAPSHOT", "lib-1.1-SNAPSHOT.jar", false) // non-unique
	f("com/acme", "lib", "1.0", "lib-1.1.jar", false)
	f("com/acme", "lib", "1.0", "lib-1.0", false)
	f("com/acme", "lib", "1.0", "lib-1.0-.jar", false)
	f("com/../acme", "lib", "1.0", "lib-1.0.jar", false)
	f("", "lib", "1.0", "lib-1.0.jar", false)
	f("com//acme", "lib", "1.0", "lib-1.0.jar", false)
	f("com/acme", "l/b", "1.0", "l/b-1.0.jar", false)
	f("com/acme", "lib", "1.0", "lib-1.0.j@r", false)
}

// FuzzParseBuild: deployed file names face the network. What a name is
// taken apart into is a valid tail, and rebuilds into a name with the
// same parts (so snapshot metadata points at files that exist).
func FuzzParseBuild(f *testing.F) {
	f.Add("lib", "1.1-SNAPSHOT", "lib-1.1-20240102.030405-7-sources.jar")
	f.Add("lib", "SNAPSHOT", "lib-20240102.030405-1.pom")
	f.Add("a", "1-SNAPSHOT", "a-1-20240102.030405-007.tar.gz")
	f.Fuzz(func(t *testing.T, a, v, name string) {
		b, ok := parseBuild(a, v, name)
		if !ok {
			return
		}
		if !validTail(b.Tail) {
			t.Fatalf("parseBuild(%q, %q, %q) = %+v", a, v, name, b)
		}
		if c, ext := splitTail(b.Tail); ext == "" || c == "" && b.Tail[0] == '-' {
			t.Fatalf("tail %q split into %q %q", b.Tail, c, ext)
		}
		rebuilt := a + "-" + b.value(v) + b.Tail
		if again, ok := parseBuild(a, v, rebuilt); !ok || again != b {
			t.Fatalf("%q rebuilt as %q: %+v %v, want %+v", name, rebuilt, again, ok, b)
		}
	})
}
