package cargo

import (
	"strings"
	"testing"

	"nora/cache"

	hosted "nora/hosted/cargo"
)

// The parsers that face the network: request paths from clients, index
// files and config.json from the upstream.

func FuzzParseIndexPath(f *testing.F) {
	for _, s := range []string{"1/a", "2/ab", "3/a/abc", "se/rd/serde", "Se/Rd/SERDE", "../x", "se/rd/serde/", "3/A/abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, ok := parseIndexPath(p)
		if !ok {
			return
		}
		if !hosted.ValidName(name) || name != strings.ToLower(name) || !strings.EqualFold(indexPath(name), p) {
			t.Fatalf("parseIndexPath(%q) = %q", p, name)
		}
		if err := cache.CheckKey(indexKey(name)); err != nil {
			t.Fatalf("key for %q: %v", p, err)
		}
	})
}

func FuzzParseVersionPath(f *testing.F) {
	for _, s := range []string{"serde/1.0.0/download", "a/1.0.0+b/download", "a/../download", "a/1/download/x", "a/1.0.0/yank", "a/1.0.0/unyank"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, vers, action, ok := parseVersionPath(p)
		if !ok {
			return
		}
		if p != name+"/"+vers+"/"+action || (action != "download" && action != "yank" && action != "unyank") {
			t.Fatalf("parseVersionPath(%q) = %q, %q, %q", p, name, vers, action)
		}
		if err := cache.CheckKey(crateKey(strings.ToLower(name), vers)); err != nil {
			t.Fatalf("key for %q: %v", p, err)
		}
	})
}

func FuzzIndexFile(f *testing.F) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"cksum":"`+sum+`","features":{},"yanked":false}`+"\n"), "0.1.0")
	f.Add([]byte(`{"name":"acme","vers":"0.1.0"}`+"\r\n"+`{"name":"acme","vers":"0.1.1","cksum":"`+sum+`"}`), "0.1.1")
	f.Add([]byte("{\"vers\":\"1\"\n\n\x00"), "1")
	f.Add([]byte(`{"name":"ACME","vers":"2.0.0","cksum":"`+strings.ToUpper(sum)+`"}`), "2.0.0")
	f.Fuzz(func(t *testing.T, body []byte, vers string) {
		_ = checkIndex("acme")(body)
		if !validVersion(vers) {
			return
		}
		e, err := findVersion(body, "acme", vers)
		if err != nil {
			return
		}
		if e.Vers != vers || !hosted.ValidChecksum(e.Cksum) || !hosted.ValidName(e.Name) || !strings.EqualFold(e.Name, "acme") {
			t.Fatalf("findVersion(%q) = %+v", vers, e)
		}
	})
}

func FuzzExpandDL(f *testing.F) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, s := range []string{`{"dl":"https://dl.example/crates"}`, `{"dl":"https://dl.example/{prefix}/{crate}/{version}?c={sha256-checksum}"}`,
		`{"dl":"/{lowerprefix}/{crate}"}`, `{"dl":""}`, `{}`, `[`} {
		f.Add([]byte(s), "Serde", "1.0.0")
	}
	f.Fuzz(func(t *testing.T, config []byte, name, vers string) {
		rc, err := parseRegistryConfig(config)
		if err != nil || !hosted.ValidName(name) || !validVersion(vers) {
			return
		}
		got := expandDL(rc.DL, name, vers, sum)
		marked := false
		for _, m := range dlMarkers {
			marked = marked || strings.Contains(rc.DL, m)
		}
		if !marked && got != strings.TrimSuffix(rc.DL, "/")+"/"+name+"/"+vers+"/download" {
			t.Fatalf("expandDL(%q) = %q, want the appended form", rc.DL, got)
		}
		// The values hold no braces: they can never form a marker or
		// template syntax of their own.
		if strings.Count(got, "{") > strings.Count(rc.DL, "{") {
			t.Fatalf("expandDL(%q) = %q", rc.DL, got)
		}
	})
}
