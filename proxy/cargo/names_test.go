package cargo

import (
	"errors"
	"strings"
	"testing"
)

func TestParseIndexPath(t *testing.T) {
	f := func(p, want string) {
		t.Helper()
		got, ok := parseIndexPath(p)
		if got != want || ok != (want != "") {
			t.Fatalf("parseIndexPath(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
	f("1/a", "a")
	f("2/ab", "ab")
	f("3/a/abc", "abc")
	f("se/rd/serde", "serde")
	f("ac/me/acme-lib", "acme-lib")
	f("Se/Rd/Serde", "serde") // case folds to one entry
	f("to/ki/tokio_util", "tokio_util")
	f("ab/cd/"+strings.Repeat("abcd", 16), strings.Repeat("abcd", 16))
	// Refused.
	f("", "")
	f("serde", "")
	f("se/rd/", "")
	f("/se/rd/serde", "")
	f("se/rd/serde/", "")
	f("xx/rd/serde", "")
	f("se/xx/serde", "")
	f("3/b/abc", "")
	f("2/a", "")
	f("1/ab", "")
	f("3/abc", "")
	f("se/serde", "")
	f("se/rd/x/serde", "")
	f("_a/bc/_abc", "")
	f("1/1", "")
	f("2/-a", "")
	f("se/rd/ser.de", "")
	f("se/rd/ser%de", "")
	f("../../..", "")
	f("ab/cd/"+strings.Repeat("abcd", 16)+"e", "")
	f("co/nf/config.json", "")
}

func TestParseDownloadPath(t *testing.T) {
	f := func(p, wantName, wantVers string) {
		t.Helper()
		name, vers, action, ok := parseVersionPath(p)
		if ok = ok && action == "download"; !ok {
			name, vers = "", ""
		}
		if name != wantName || vers != wantVers || ok != (wantName != "") {
			t.Fatalf("parseVersionPath(%q) = %q, %q, %v", p, name, vers, ok)
		}
	}
	f("serde/1.0.0/download", "serde", "1.0.0")
	f("Inflector/0.11.4/download", "Inflector", "0.11.4")
	f("a/1.0.0-rc.1+build.5/download", "a", "1.0.0-rc.1+build.5")
	f("serde/1.0.0", "", "")
	f("serde/1.0.0/download/", "", "")
	f("serde/1.0.0/readme", "", "")
	f("serde/../download", "", "")
	f("serde/./download", "", "")
	f("serde/v1/download", "", "")
	f("serde//download", "", "")
	f("/1.0.0/download", "", "")
	f("ser de/1.0.0/download", "", "")
	f("serde/1.0 /download", "", "")
	f("serde/1.0.0/download?x", "", "")
	f("serde/1.0.0/yank", "", "")
}

func TestParseVersionPath(t *testing.T) {
	f := func(p, want string) {
		t.Helper()
		name, vers, action, ok := parseVersionPath(p)
		if got := name + " " + vers + " " + action; (ok && got != want) || (!ok && want != "") {
			t.Fatalf("parseVersionPath(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
	f("acme/0.1.0/download", "acme 0.1.0 download")
	f("acme/0.1.0/yank", "acme 0.1.0 yank")
	f("Acme_Lib/1.0.0-rc.1/unyank", "Acme_Lib 1.0.0-rc.1 unyank")
	f("acme/0.1.0/owners", "")
	f("acme/owners", "")
	f("acme/0.1.0/yank/", "")
	f("acme/../yank", "")
	f("new", "")
}

func TestExpandDL(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f := func(dl, name, vers, want string) {
		t.Helper()
		if got := expandDL(dl, name, vers, sum); got != want {
			t.Fatalf("expandDL(%q, %q, %q) = %q, want %q", dl, name, vers, got, want)
		}
	}
	f("https://dl.example/crates", "serde", "1.0.0", "https://dl.example/crates/serde/1.0.0/download")
	f("https://dl.example/crates/", "serde", "1.0.0", "https://dl.example/crates/serde/1.0.0/download")
	f("https://dl.example/{crate}/{crate}-{version}.crate", "serde", "1.0.0", "https://dl.example/serde/serde-1.0.0.crate")
	f("https://dl.example/{prefix}/{crate}", "Inflector", "0.11.4", "https://dl.example/In/fl/Inflector")
	f("https://dl.example/{lowerprefix}/{crate}", "Inflector", "0.11.4", "https://dl.example/in/fl/Inflector")
	f("https://dl.example/{lowerprefix}/{crate}", "Abc", "1.0.0", "https://dl.example/3/a/Abc")
	f("https://dl.example/{prefix}/{crate}", "Abc", "1.0.0", "https://dl.example/3/A/Abc")
	f("https://dl.example/{prefix}/{crate}", "ab", "1.0.0", "https://dl.example/2/ab")
	f("https://dl.example/{prefix}/{crate}", "a", "1.0.0", "https://dl.example/1/a")
	f("https://dl.example/x?sum={sha256-checksum}", "a", "1.0.0", "https://dl.example/x?sum="+sum)
	f("https://dl.example/{version}", "a", "1.0.0+b", "https://dl.example/1.0.0+b")
	f("https://dl.example/{unknown}", "a", "1.0.0", "https://dl.example/{unknown}/a/1.0.0/download")
}

func TestFindVersion(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	line := func(name, vers, cksum string) string {
		return `{"name":"` + name + `","vers":"` + vers + `","deps":[],"cksum":"` + cksum + `","features":{},"yanked":false}` + "\n"
	}
	file := line("acme", "0.1.0", sum) + line("acme", "0.1.1", strings.ToUpper(sum)) + line("acme", "1.0.0-rc.1", "x") +
		line("Other", "2.0.0", sum) + "\r\n\n" + line("acme", "0.1.10", sum)
	f := func(vers, wantSum string, wantErr bool) {
		t.Helper()
		e, err := findVersion([]byte(file), "acme", vers)
		if (err != nil) != wantErr || e.Cksum != wantSum || (err == nil && e.Vers != vers) {
			t.Fatalf("findVersion(%q) = %+v, %v; want cksum %q, err %v", vers, e, err, wantSum, wantErr)
		}
	}
	f("0.1.0", sum, false)
	f("0.1.1", sum, false) // upper-case hex accepted, lowered
	f("0.1.10", sum, false)
	f("0.1", "", true)
	f("1.0.0-rc.1", "", true) // no valid checksum
	f("2.0.0", "", true)      // a line of another crate
	f("9.9.9", "", true)
	if _, err := findVersion([]byte(file), "acme", "9.9.9"); !errors.Is(err, errNoVersion) {
		t.Fatalf("missing version: %v, want errNoVersion", err)
	}
}

func TestCheckIndex(t *testing.T) {
	f := func(body string, ok bool) {
		t.Helper()
		if err := checkIndex("acme-lib")([]byte(body)); (err == nil) != ok {
			t.Fatalf("checkIndex(%q) = %v, want ok=%v", body, err, ok)
		}
	}
	f(`{"name":"acme-lib","vers":"0.1.0"}`, true)
	f(`{"name":"Acme-Lib","vers":"0.1.0"}`+"\n\n"+`{"name":"acme-lib","vers":"0.2.0"}`+"\r\n", true)
	f("", true)
	f("<html>maintenance</html>", false)
	f(`{"name":"other","vers":"0.1.0"}`, false)
	f(`{"name":"acme-lib"}`, false)
	f(`{"name":"acme-lib","vers":"0.1.0"}`+"\n{", false)
}
