package npm

import (
	"errors"
	"strings"
	"testing"

	"nora/cache"
)

func TestParseRequest(t *testing.T) {
	f := func(path string, wantKind kind, wantName, wantFile string, wantErr error) {
		t.Helper()
		r, err := parseRequest(path)
		if !errors.Is(err, wantErr) || r.kind != wantKind || r.name != wantName || r.file != wantFile {
			t.Fatalf("parseRequest(%q) = %+v, %v; want kind %d %q %q, %v", path, r, err, wantKind, wantName, wantFile, wantErr)
		}
	}
	f("/npm/lodash", kindPackument, "lodash", "", nil)
	f("/npm/@acme/dep", kindPackument, "@acme/dep", "", nil)
	f("/npm/@acme%2fdep", kindPackument, "@acme/dep", "", nil)
	f("/npm/@acme%2Fdep", kindPackument, "@acme/dep", "", nil)
	f("/npm/%40acme%2fdep", kindPackument, "@acme/dep", "", nil)
	f("/npm/JSONStream", kindPackument, "JSONStream", "", nil)
	f("/npm/lodash/-/lodash-4.17.21.tgz", kindTarball, "lodash", "lodash-4.17.21.tgz", nil)
	f("/npm/@acme/dep/-/dep-1.0.0.tgz", kindTarball, "@acme/dep", "dep-1.0.0.tgz", nil)
	f("/npm/@acme%2fdep/-/dep-1.0.0-beta.1.tgz", kindTarball, "@acme/dep", "dep-1.0.0-beta.1.tgz", nil)
	f("/npm/-/ping", kindPing, "", "", nil)
	f("/npm/-/npm/v1/security/advisories/bulk", kindAudit, "", "", nil)
	f("/npm/-/npm/v1/security/audits/quick", kindAudit, "", "", nil)

	f("/npm/-/whoami", kindWhoami, "", "", nil)
	f("/npm/-/v1/login", kindLogin, "", "", nil)
	f("/npm/-/user/org.couchdb.user:ci", kindLogin, "", "", nil)
	f("/npm/@acme%2flib/-rev/3-abc", kindRev, "@acme/lib", "", nil)
	f("/npm/lib/-rev/3-abc", kindRev, "lib", "", nil)
	f("/npm/@acme/lib/-/lib-1.0.0.tgz/-rev/4-abc", kindTarballRev, "@acme/lib", "lib-1.0.0.tgz", nil)
	f("/npm/lib/-/lib-1.0.0.tgz/-rev/4-abc", kindTarballRev, "lib", "lib-1.0.0.tgz", nil)
	f("/npm/-/package/@acme%2flib/dist-tags", kindDistTags, "@acme/lib", "", nil)
	f("/npm/-/package/lib/dist-tags/beta", kindDistTags, "lib", "", nil)

	f("/npm/", 0, "", "", errUnknownPath)
	f("/npm/lib/-rev/", 0, "", "", errInvalidRev)
	f("/npm/lib/-rev/a%20b", 0, "", "", errInvalidRev)
	f("/npm/lib/-/x.tar/-rev/1-a", 0, "", "", errInvalidFile)
	f("/npm/lib/-rev/1-a/x", 0, "", "", errUnknownPath)
	f("/npm/-/package/lib", 0, "", "", errUnknownPath)
	f("/npm/-/package/lib/dist-tags/", 0, "", "", errInvalidTag)
	f("/npm/-/package/lib/dist-tags/a%20b", 0, "", "", errInvalidTag)
	f("/npm/-/package/lib/dist-tags/a/b", 0, "", "", errUnknownPath)
	f("/npm/-/package/..%2fx/dist-tags", 0, "", "", errUnknownPath)
	f("/npm/-/package/_x/dist-tags", 0, "", "", errInvalidName)
	f("/npm", 0, "", "", errUnknownPath)
	f("/v2/lodash", 0, "", "", errUnknownPath)
	f("/npm/-/v1/search", 0, "", "", errUnknownPath)
	f("/npm/lodash/", 0, "", "", errUnknownPath)
	f("/npm/lodash/4.17.21", 0, "", "", errUnknownPath)
	f("/npm/lodash/-/", 0, "", "", errInvalidFile)
	f("/npm/lodash/-/x.tar", 0, "", "", errInvalidFile)
	f("/npm/lodash/-/.tgz", 0, "", "", errInvalidFile)
	f("/npm/lodash/-/a%2fb.tgz", 0, "", "", errUnknownPath)
	f("/npm/lodash/-/a%5cb.tgz", 0, "", "", errInvalidFile)
	f("/npm/@acme", 0, "", "", errUnknownPath)
	f("/npm/@acme/dep/extra", 0, "", "", errUnknownPath)
	f("/npm/%zz", 0, "", "", errUnknownPath)
	f("/npm/..", 0, "", "", errInvalidName)
	f("/npm/%2e%2e", 0, "", "", errInvalidName)
	f("/npm/@acme/..", 0, "", "", errInvalidName)
	f("/npm/@../x", 0, "", "", errInvalidName)
	f("/npm/_private", 0, "", "", errInvalidName)
	f("/npm/.hidden", 0, "", "", errInvalidName)
	f("/npm/a%00b", 0, "", "", errInvalidName)
	f("/npm/a%252fb", 0, "", "", errInvalidName)
	f("/npm/node_modules", 0, "", "", errInvalidName)
	f("/npm/sp%20ace", 0, "", "", errInvalidName)
	f("/npm/"+strings.Repeat("a", 215), 0, "", "", errInvalidName)
	f("/npm/"+strings.Repeat("a", 214), kindPackument, strings.Repeat("a", 214), "", nil)
}

// Keys of different requests never collide and always pass the store's
// own check.
func TestKeys(t *testing.T) {
	keys := map[string]string{}
	f := func(what, key string) {
		t.Helper()
		if err := cache.CheckKey(key); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if other, ok := keys[key]; ok {
			t.Fatalf("%s and %s share key %s", what, other, key)
		}
		keys[key] = what
	}
	for _, name := range []string{"a", "-", "@a/b", "@a/-", "@a/_packument", "@a/_abbreviated", "_packument"[1:]} {
		f(name+" full", docKey(name, false))
		f(name+" abbreviated", docKey(name, true))
		f(name+" tarball", tarballKey(name, "a-1.0.0.tgz"))
		f(name+" tarball2", tarballKey(name, "_packument.tgz"))
	}
}

func TestHostedNames(t *testing.T) {
	c := Config{HostedNames: []string{"@acme/*", "acme-*", "exact"}}
	f := func(name string, want bool) {
		t.Helper()
		if got := c.claimed(name); got != want {
			t.Fatalf("claimed(%q) = %v", name, got)
		}
	}
	f("@acme/lib", true)
	f("acme-util", true)
	f("exact", true)
	f("@acme2/lib", false)
	f("@other/acme-x", false)
	f("acme", false)
	f("exact-not", false)
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"[", ""} {
		if (Config{HostedNames: []string{bad}}).Check() == nil {
			t.Fatalf("hosted_names %q accepted", bad)
		}
	}
}
