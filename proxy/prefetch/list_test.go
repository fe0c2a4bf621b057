package prefetch

import (
	"errors"
	"strings"
	"testing"

	"nora/internal/fault"
)

func TestParseLine(t *testing.T) {
	f := func(line, format, name, ref string) {
		t.Helper()
		items, err := Parse(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		it := items[0]
		if it.Format != format || it.Name != name || it.Ref != ref {
			t.Fatalf("%q = %s %q %q, want %s %q %q", line, it.Format, it.Name, it.Ref, format, name, ref)
		}
	}
	const d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	f("nginx", Docker, "nginx", "latest")
	f("nginx:1.27", Docker, "nginx", "1.27")
	f("library/nginx@"+d, Docker, "library/nginx", d)
	f("nginx:1.27@"+d, Docker, "nginx", d)
	f("ghcr-mirror/x/y:tag", Docker, "ghcr-mirror/x/y", "tag")
	f("docker:docker:27", Docker, "docker", "27")
	f("npm:lodash", Npm, "lodash", "")
	f("lodash@^4.17", Npm, "lodash", "^4.17")
	f("@scope/x@^1.2", Npm, "@scope/x", "^1.2")
	f("@scope/x", Npm, "@scope/x", "")
	f("react@next", Npm, "react", "next")
	f("x@>=1.2 <2 || 3.x", Npm, "x", ">=1.2 <2 || 3.x")
	f("Django==4.2.1", PyPI, "Django", "4.2.1")
	f("pypi: zope.interface == 6.0", PyPI, "zope.interface", "6.0")
	f("org.apache.commons:commons-lang3:3.14.0", Maven, "org.apache.commons:commons-lang3", "3.14.0")
	f("maven:g:a:1.0-SNAPSHOT", Maven, "g:a", "1.0-SNAPSHOT")
	f("cargo:serde@1.0.200", Cargo, "serde", "1.0.200")
	f("  nginx:1.27   # the web tier", Docker, "nginx", "1.27")
}

func TestParseRefuses(t *testing.T) {
	f := func(line, want string) {
		t.Helper()
		_, err := Parse(line)
		if !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: %v, want Invalid with %q", line, err, want)
		}
	}
	f("Nginx:1", "invalid image name")
	f("nginx:bad/tag!", "invalid image name")
	f("nginx@sha256:zz", "invalid digest")
	f("g:a:v:c@jar", "group:artifact:version")
	f("g:a:../x", "invalid image name")
	f("g:a:..", "group:artifact:version")
	f("cargo:serde", "cargo:name@version")
	f("cargo:serde@^1", "cargo:name@version")
	f("pypi:x", "name==version")
	f("x@>=1.2.3.4", "invalid version")
	f("x@1 $(rm)", "invalid version range")
	f("\n# nothing\n\n", "no items")
	f("a:1\nB\nc@1\nD\n", "line 2")
	f("a:1\nB\nc@1\nD\n", "line 4")
}

func TestParseLimits(t *testing.T) {
	if _, err := Parse(strings.Repeat("a\n", MaxItems+1)); !errors.Is(err, fault.TooLarge) {
		t.Fatalf("too many items: %v", err)
	}
	if _, err := Parse(strings.Repeat("a", MaxLineLen+1)); !errors.Is(err, fault.Invalid) {
		t.Fatalf("long line: %v", err)
	}
	items, err := Parse("a:1\n\n# c\nb@1\n")
	if err != nil || len(items) != 2 || items[0].Line != 1 || items[1].Line != 4 || items[1].Text != "b@1" {
		t.Fatalf("%+v %v", items, err)
	}
}

// FuzzParse: the list comes over the network; Parse must not panic, and
// every item it accepts must name a format and say what to fetch.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx:1.27\nlodash@^4\n@a/b@~1.2\nx==1\ng:a:1\ncargo:c@1.0.0\n",
		"x@>=1.2.3-rc.1 <2 || 1.x - 3", "docker:a/b@sha256:" + strings.Repeat("a", 64), "#", "a@b@c", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		items, err := Parse(s)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Format == "" || it.Name == "" || strings.ContainsAny(it.Name, "\n#") || it.Line < 1 {
				t.Fatalf("%q gave %+v", s, it)
			}
			if it.Format == Npm && it.Ref != "" && !isTag(it.Ref) {
				if _, err := parseRange(it.Ref); err != nil {
					t.Fatalf("accepted range %q: %v", it.Ref, err)
				}
			}
			if strings.Contains(it.Name, "..") && it.Format != Npm {
				t.Fatalf("%q: name %q climbs", s, it.Name)
			}
		}
	})
}
