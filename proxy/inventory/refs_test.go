package inventory

import (
	"context"
	"testing"

	"nora/cache"
)

// The proxied refs of each format (proxy/<format>/keys.go) read back as
// the package, version and file they hold; other refs are not files.
func TestFileRef(t *testing.T) {
	for _, tc := range []struct{ format, key, name, version, file string }{
		{"npm", "refs/npm/lodash/-/lodash-4.17.21.tgz", "lodash", "4.17.21", "lodash-4.17.21.tgz"},
		{"npm", "refs/npm/@acme/lib/-/lib-1.0.0-rc.1.tgz", "@acme/lib", "1.0.0-rc.1", "lib-1.0.0-rc.1.tgz"},
		{"npm", "refs/npm/lodash/_packument", "", "", ""},
		{"pypi", "refs/pypi/requests/_files/requests-2.32.3-py3-none-any.whl", "requests", "2.32.3", "requests-2.32.3-py3-none-any.whl"},
		{"pypi", "refs/pypi/acme-lib/_files/acme_lib-1.0.tar.gz", "acme-lib", "1.0", "acme_lib-1.0.tar.gz"},
		{"pypi", "refs/pypi/requests/_page", "", "", ""},
		{"pypi", "refs/pypi/requests/_metadata/requests-2.32.3-py3-none-any.whl", "", "", ""},
		{"maven", "refs/maven/files/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar/@", "org.slf4j:slf4j-api", "2.0.13", "slf4j-api-2.0.13.jar"},
		{"maven", "refs/maven/files/org/slf4j/maven-metadata.xml/@", "", "", ""},
		{"maven", "refs/maven/files/org/slf4j/slf4j-api/maven-metadata.xml/@", "", "", ""},
		{"cargo", "refs/cargo/crates/serde/1.0.200", "serde", "1.0.200", "serde-1.0.200.crate"},
		{"cargo", "refs/cargo/index/serde", "", "", ""},
	} {
		name, version, file, ok := fileRef(tc.format, tc.key)
		if ok != (tc.name != "") || name != tc.name || version != tc.version || file != tc.file {
			t.Errorf("fileRef(%s, %s) = %q %q %q %v, want %q %q %q", tc.format, tc.key, name, version, file, ok, tc.name, tc.version, tc.file)
		}
		if ok && len(tc.key) < len(namePrefix(tc.format, tc.name)) || ok && tc.key[:len(namePrefix(tc.format, tc.name))] != namePrefix(tc.format, tc.name) {
			t.Errorf("%s is not under namePrefix(%s, %s) = %s", tc.key, tc.format, tc.name, namePrefix(tc.format, tc.name))
		}
	}
}

func TestDockerTagAndRefs(t *testing.T) {
	if name, tag, ok := dockerTag("refs/docker/docker.io/library/alpine/_tags/3.20"); !ok || name != "docker.io/library/alpine" || tag != "3.20" {
		t.Errorf("dockerTag: %q %q %v", name, tag, ok)
	}
	for _, k := range []string{"refs/docker/docker.io/library/alpine/_taglist", "refs/docker/_mediatypes/blobs/sha256/ab/abcd"} {
		if _, _, ok := dockerTag(k); ok {
			t.Errorf("dockerTag(%s) is a tag", k)
		}
	}
	for in, want := range map[string]string{"reg:5000/a/b:1": "reg:5000/a/b 1", "a/b": "a/b ", "reg:5000/a": "reg:5000/a "} {
		if r, tg := splitTag(in); r+" "+tg != want {
			t.Errorf("splitTag(%s) = %q %q", in, r, tg)
		}
	}
	for _, bad := range []string{"a/b", "a/b@sha256:zz", ":1", "@sha256:" + string(make([]byte, 0))} {
		if _, err := ParseImageRef(bad); err == nil {
			t.Errorf("ParseImageRef(%q) took it", bad)
		}
	}
}

// A name that would walk out of the refs is refused before any listing.
func TestListRefusesDotDot(t *testing.T) {
	i := &Inventory{lister: refuseLister{t}}
	if err := i.list(t.Context(), namePrefix("npm", "../../etc"), func(string) error { return nil }); err == nil {
		t.Error("listed refs/npm/../../etc")
	}
}

// refuseLister fails the test if it is asked anything.
type refuseLister struct{ t *testing.T }

func (l refuseLister) List(_ context.Context, prefix string, _ func(string, cache.Info) error) error {
	l.t.Errorf("listed %s", prefix)
	return nil
}
