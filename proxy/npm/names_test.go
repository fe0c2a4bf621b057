package npm

import (
	"strings"
	"testing"

	"nora/cache"
)

func TestParseRequest(t *testing.T) {
	f := func(path string, wantKind kind, wantName, wantFile string, wantErr error) {
		t.Helper()
		r, err := parseRequest(path)
		if err != wantErr || r.kind != wantKind || r.name != wantName || r.file != wantFile {
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

	f("/npm/", 0, "", "", errUnknownPath)
	f("/npm", 0, "", "", errUnknownPath)
	f("/v2/lodash", 0, "", "", errUnknownPath)
	f("/npm/-/whoami", 0, "", "", errUnknownPath)
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

func TestValidName(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := validName(name); got != want {
			t.Fatalf("validName(%q) = %v, want %v", name, got, want)
		}
	}
	f("lodash", true)
	f("@babel/core", true)
	f("@acme/_internal", true)
	f("a.b-c_d~e", true)
	f("-", true)
	f("", false)
	f("@", false)
	f("@/x", false)
	f("@x/", false)
	f("@x/y/z", false)
	f("a/b", false)
	f("@x/.y", false)
	f("@.x/y", false)
	f("a b", false)
	f("a:b", false)
	f("a%b", false)
	f("é", false)
	f("favicon.ico", false)
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
