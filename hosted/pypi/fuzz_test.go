package pypi

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "v1.0-ALPHA.1", "2!1.0.post3.dev4+Local_7", "1.0-1", "0", "1.0+", "1..0", "01.00rc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeVersion(s)
		k, okK := versionKey(s)
		if ok != okK {
			t.Fatalf("%q: NormalizeVersion %v, versionKey %v", s, ok, okK)
		}
		if !ok {
			return
		}
		// The normal form is a fixed point and keeps the version's identity.
		if n2, ok := NormalizeVersion(n); !ok || n2 != n {
			t.Fatalf("%q -> %q -> %q %v", s, n, n2, ok)
		}
		if k2, _ := versionKey(n); k2 != k {
			t.Fatalf("%q: key %q, key of its normal form %q", s, k, k2)
		}
		if k3, _ := versionKey(k); k3 != k {
			t.Fatalf("%q: key %q is no fixed point (%q)", s, k, k3)
		}
	})
}

func FuzzCheckFilename(f *testing.F) {
	f.Add("acme_lib-1.0.0-py3-none-any.whl", "acme-lib", "1.0")
	f.Add("acme-lib-1.0-1.tar.gz", "acme-lib", "1.0.post1")
	f.Add("a-b-c-d-e-f-g.whl", "a", "b")
	f.Fuzz(func(t *testing.T, filename, project, version string) {
		ft, err := checkFilename(filename, project, version)
		if err != nil {
			return
		}
		if (ft != Wheel && ft != Sdist) || !ValidFilename(filename) || strings.HasSuffix(filename, ".metadata") {
			t.Fatalf("checkFilename(%q, %q, %q) accepted as %q", filename, project, version, ft)
		}
		if _, ok := versionKey(version); !ok {
			t.Fatalf("accepted for the invalid version %q", version)
		}
	})
}

func FuzzWheelMetadata(f *testing.F) {
	f.Add(testWheel(f, "Acme_Lib", "1.0", ">=3"), "acme-lib", "1.0")
	f.Add([]byte("PK\x05\x06"+string(make([]byte, 18))), "a", "1")
	f.Fuzz(func(t *testing.T, zipBytes []byte, project, version string) {
		md, _, err := wheelMetadata(bytes.NewReader(zipBytes), int64(len(zipBytes)), project, version)
		if err == nil && len(md) > maxMetadataBytes {
			t.Fatalf("metadata of %d bytes", len(md))
		}
	})
}
