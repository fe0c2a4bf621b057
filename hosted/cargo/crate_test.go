package cargo

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckCrate(t *testing.T) {
	f := func(b []byte, wantErr string) {
		t.Helper()
		err := checkCrate(bytes.NewReader(b), "acme", "0.1.0", 1<<20)
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("checkCrate = %v, want %q", err, wantErr)
		}
	}
	good := crateOf(t, "acme", "0.1.0")
	f(good, "")
	f(makeCrate(t, "acme-0.1.0", map[string]string{"Cargo.toml": "", "Cargo.toml.orig": "", ".cargo_vcs_info.json": "{}"}), "")

	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // in the gzip trailer's CRC-32
	f(flipped, "corrupt")
	flipped = bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x55 // in the compressed data
	f(flipped, "the .crate")
	f(good[:len(good)-10], "the .crate")
	f(good[:5], "not gzip")
	f([]byte("not a crate at all"), "not gzip")
	f(append(bytes.Clone(good), 0), "bytes after its gzip stream")
	f(append(bytes.Clone(good), good...), "bytes after its gzip stream")
	f(crateOf(t, "other", "0.1.0"), "outside acme-0.1.0/")
	f(crateOf(t, "acme", "0.1.1"), "outside acme-0.1.0/")
	f(makeCrate(t, "acme-0.1.0", map[string]string{"src/lib.rs": ""}), "no acme-0.1.0/Cargo.toml")
	f(makeCrate(t, "acme-0.1.0", map[string]string{"Cargo.toml": "", "../../etc/x": ""}), "outside")
	f(makeCrate(t, "acme-0.1.0", map[string]string{"Cargo.toml": "", "a//b": ""}), "outside")
	// A gzip bomb: 2 MiB of zeros is a few KiB compressed.
	f(makeCrate(t, "acme-0.1.0", map[string]string{"Cargo.toml": "", "zeros": strings.Repeat("\x00", 2<<20)}), "unpacks to more than")
}
