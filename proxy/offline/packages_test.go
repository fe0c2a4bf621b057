package offline

import "testing"

// Only the keys of the five formats' proxied packages may be written by
// an import, never a path that climbs out or lands elsewhere.
func TestEntryKey(t *testing.T) {
	for member, want := range map[string]string{
		"packages/npm/left-pad/_packument":                       "refs/npm/left-pad/_packument",
		"packages/npm/@acme/util/_abbreviated":                   "refs/npm/@acme/util/_abbreviated",
		"packages/npm/@acme/util/-/util-0.1.0.tgz":               "refs/npm/@acme/util/-/util-0.1.0.tgz",
		"packages/pypi/demo-pkg/_page":                           "refs/pypi/demo-pkg/_page",
		"packages/pypi/demo-pkg/_files/demo_pkg-1.0.tar.gz":      "refs/pypi/demo-pkg/_files/demo_pkg-1.0.tar.gz",
		"packages/maven/files/org/example/lib/1.0/lib-1.0.jar/@": "refs/maven/files/org/example/lib/1.0/lib-1.0.jar/@",
		"packages/cargo/index/tiny":                              "refs/cargo/index/tiny",
		"packages/cargo/crates/tiny/0.1.0":                       "refs/cargo/crates/tiny/0.1.0",
		"packages/cargo/_upstream/config.json":                   "refs/cargo/_upstream/config.json",
		"packages/npm/../docker/x/_packument":                    "",
		"packages/npm/left-pad/-/../../../hosted.db.tgz":         "",
		"packages/maven/files/org/../../../x.jar/@":              "",
		"packages/maven/files/org/.hidden/x.jar/@":               "",
		"packages/docker/library/nginx/_tags/1":                  "",
		"packages/pypi/Demo/_page":                               "",
		"packages/cargo/crates/tiny/../../index/x":               "",
		"blobs/sha256/ab":                                        "",
		"packages/npm/left-pad/_packument/extra":                 "",
	} {
		got, ok := entryKey(member)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("entryKey(%q) = %q, want %q", member, got, want)
		}
	}
}
