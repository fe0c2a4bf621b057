package main

import (
	"bytes"
	"regexp"
	"testing"
)

var iniName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// FuzzSetMavenServer: whatever settings.xml a job has, the merge never
// panics, and what it writes holds the one entry and is a fixed point.
func FuzzSetMavenServer(f *testing.F) {
	for _, s := range []string{"", "<settings/>", "<settings><servers/></settings>", "<settings>\n  <servers>\n    <server><id>nora</id></server>\n  </servers>\n</settings>",
		"<?xml version=\"1.0\"?><!-- c --><settings xmlns=\"urn:x\"><servers><server><id>a</id></server></servers></settings>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := setMavenServer([]byte(doc), "nora", "nora", "tok")
		if err != nil {
			return
		}
		s, err := scanMavenSettings(got, "nora")
		if err != nil || s.server == nil {
			t.Fatalf("%q: the result has no nora entry (%v):\n%s", doc, err, got)
		}
		if again, err := setMavenServer(got, "nora", "nora", "tok"); err != nil || !bytes.Equal(again, got) {
			t.Fatalf("%q: not a fixed point (%v):\n%s\n%s", doc, err, got, again)
		}
	})
}

// FuzzINISet: setting an option of any file never panics, reads back, and
// keeps every other line.
func FuzzINISet(f *testing.F) {
	for _, s := range []string{"", "[global]\nindex-url = x\n", "[distutils]\nindex-servers =\n  pypi\n\n[pypi]\nusername = u\n", "a=1\n[nora]"} {
		f.Add(s, "nora", "password")
	}
	f.Fuzz(func(t *testing.T, doc, section, key string) {
		// Names as pip and twine use them.
		if !iniName.MatchString(section) || !iniName.MatchString(key) {
			return
		}
		ini := parseINI([]byte(doc))
		before := len(ini.lines)
		ini.set(section, key, "v")
		if v, ok := ini.get(section, key); !ok || v != "v" {
			t.Fatalf("%q: %s.%s reads back %q, %v:\n%s", doc, section, key, v, ok, ini.bytes())
		}
		if len(ini.lines) < before {
			t.Fatalf("%q: lines lost:\n%s", doc, ini.bytes())
		}
	})
}
