package pypi

import (
	"nora/internal/fault"
	"testing"
)

func TestVersions(t *testing.T) {
	f := func(in, normal, key string) {
		t.Helper()
		gotN, okN := NormalizeVersion(in)
		gotK, okK := versionKey(in)
		if normal == "" {
			if okN || okK {
				t.Fatalf("version %q accepted as %q / %q", in, gotN, gotK)
			}
			return
		}
		if !okN || gotN != normal || !okK || gotK != key {
			t.Fatalf("version %q: %q %v / %q %v, want %q / %q", in, gotN, okN, gotK, okK, normal, key)
		}
	}
	f("1.0.0", "1.0.0", "1")
	f("1.0", "1.0", "1")
	f("v1.2", "1.2", "1.2")
	f(" 01.020 ", "1.20", "1.20")
	f("1.0a1", "1.0a1", "1a1")
	f("1.0-alpha.1", "1.0a1", "1a1")
	f("1.0.BETA2", "1.0b2", "1b2")
	f("1.0c3", "1.0rc3", "1rc3")
	f("1.0preview", "1.0rc0", "1rc0")
	f("1.0-1", "1.0.post1", "1.post1")
	f("1.0.post", "1.0.post0", "1.post0")
	f("1.0rev2", "1.0.post2", "1.post2")
	f("1.0.dev", "1.0.dev0", "1.dev0")
	f("1.0a1.post2.dev3", "1.0a1.post2.dev3", "1a1.post2.dev3")
	f("0!1.0", "1.0", "1")
	f("2!1.0", "2!1.0", "2!1")
	f("1.0+Local-7_x.007", "1.0+local.7.x.7", "1+local.7.x.7")
	f("1.0+cu121", "1.0+cu121", "1+cu121")
	f("99999999999999999999999.0", "99999999999999999999999.0", "99999999999999999999999")
	f("0", "0", "0")
	f("0.0.0", "0.0.0", "0")
	f("", "", "")
	f("1.0-", "", "")
	f("a1", "", "")
	f("1..0", "", "")
	f("1.0+", "", "")
	f("1.0+a..b", "", "")
	f("1.0/2", "", "")
	f("1.0 2", "", "")
}

func TestCheckFilename(t *testing.T) {
	f := func(filename, project, version, want string) {
		t.Helper()
		got, err := checkFilename(filename, project, version)
		if want == "" {
			if err == nil || fault.KindOf(err) != fault.Invalid {
				t.Fatalf("checkFilename(%q, %q, %q) = %q, %v; want Invalid", filename, project, version, got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("checkFilename(%q, %q, %q) = %q, %v; want %q", filename, project, version, got, err, want)
		}
	}
	f("acme_lib-1.0.0-py3-none-any.whl", "acme-lib", "1.0.0", Wheel)
	f("Acme.Lib-1.0-py3-none-any.whl", "acme-lib", "1.0.0", Wheel)
	f("acme_lib-1.0.0-1-py3-none-any.whl", "acme-lib", "1.0.0", Wheel)
	f("acme_lib-1.0+cu121-cp311-cp311-manylinux_2_17_x86_64.whl", "acme-lib", "1.0+cu121", Wheel)
	f("acme_lib-1.0.0.tar.gz", "acme-lib", "1.0.0", Sdist)
	f("acme-lib-1.0.0.tar.gz", "acme-lib", "1.0", Sdist)
	f("acme-lib-1.0.0.zip", "acme-lib", "1.0.0", Sdist)
	f("acme-lib-1.0-1.tar.gz", "acme-lib", "1.0.post1", Sdist)
	f("acme_lib-1.0.0-x-py3-none-any.whl", "acme-lib", "1.0.0", "")        // build tag must start with a digit
	f("acme_lib-1.0.0-py3-none.whl", "acme-lib", "1.0.0", "")              // too few tags
	f("acme_lib-1.0.0--py3-none-any.whl", "acme-lib", "1.0.0", "")         // empty tag
	f("other-1.0.0-py3-none-any.whl", "acme-lib", "1.0.0", "")             // another project
	f("acme_lib-1.0.1-py3-none-any.whl", "acme-lib", "1.0.0", "")          // another version
	f("acme_libx-1.0.0.tar.gz", "acme-lib", "1.0.0", "")                   // prefix of a name
	f("acme-lib-1.0.0.egg", "acme-lib", "1.0.0", "")                       // eggs are refused
	f("acme-lib-1.0.0.tar.bz2", "acme-lib", "1.0.0", "")                   // so are other archives
	f("../acme_lib-1.0.0.tar.gz", "acme-lib", "1.0.0", "")                 // paths
	f(".acme_lib-1.0.0.tar.gz", "acme-lib", "1.0.0", "")                   // hidden
	f("acme_lib-1.0.0-py3-none-any.whl.metadata", "acme-lib", "1.0.0", "") // collides with PEP 658
	f("acme_lib-1.0.0.tar.gz", "acme-lib", "not a version", "")
}

func TestMetadataHeaders(t *testing.T) {
	f := func(md, name, version, rp string) {
		t.Helper()
		h := metadataHeaders([]byte(md))
		if h["name"] != name || h["version"] != version || h["requires-python"] != rp {
			t.Fatalf("metadataHeaders(%q) = %v", md, h)
		}
	}
	f("Metadata-Version: 2.1\nName: Acme_Lib\nVersion: 1.0\nRequires-Python: >=3.8\n\nName: not-this\n", "Acme_Lib", "1.0", ">=3.8")
	f("Metadata-Version: 2.1\r\nName: a\r\nSummary: x\r\n  continued: Version: 9\r\nVersion: 2\r\n", "a", "2", "")
	f("Name: first\nName: second\nVersion: 1\n", "first", "1", "")
	f("", "", "", "")
	f("\nName: body\n", "", "", "")
}
