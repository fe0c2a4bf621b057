package pypi

import (
	"testing"

	hosted "nora/hosted/pypi"
)

func TestNames(t *testing.T) {
	f := func(name string, valid bool, norm string) {
		t.Helper()
		if got := validProject(name); got != valid {
			t.Fatalf("validProject(%q) = %v, want %v", name, got, valid)
		}
		if valid {
			if got := normalize(name); got != norm {
				t.Fatalf("normalize(%q) = %q, want %q", name, got, norm)
			}
		}
	}
	f("requests", true, "requests")
	f("Acme_Dep", true, "acme-dep")
	f("zope.interface", true, "zope-interface")
	f("A-_.-b", true, "a-b")
	f("x", true, "x")
	f("Django", true, "django")
	f("a1.2", true, "a1-2")
	f("", false, "")
	f("-a", false, "")
	f("a-", false, "")
	f("a b", false, "")
	f("a/b", false, "")
	f("..", false, "")
	f("é", false, "")
	f("a%2Fb", false, "")
	f(string(make([]byte, 201)), false, "")
}

func TestFilenames(t *testing.T) {
	f := func(name string, valid bool, escaped string) {
		t.Helper()
		if got := hosted.ValidFilename(name); got != valid {
			t.Fatalf("ValidFilename(%q) = %v, want %v", name, got, valid)
		}
		if valid {
			if got := escapeSegment(name); got != escaped {
				t.Fatalf("escapeSegment(%q) = %q, want %q", name, got, escaped)
			}
		}
	}
	f("requests-2.31.0-py3-none-any.whl", true, "requests-2.31.0-py3-none-any.whl")
	f("torch-2.3.0+cu121-cp311-cp311-linux_x86_64.whl", true, "torch-2.3.0%2Bcu121-cp311-cp311-linux_x86_64.whl")
	f("Acme_Dep-1.0.0.tar.gz", true, "Acme_Dep-1.0.0.tar.gz")
	f("a.whl.metadata", true, "a.whl.metadata")
	f("x!y", true, "x%21y")
	f("", false, "")
	f(".", false, "")
	f("..", false, "")
	f(".hidden", false, "")
	f("a/b", false, "")
	f(`a\b`, false, "")
	f("a b", false, "")
	f("a%2Bb", false, "")
	f("a?b", false, "")
	f("a#b", false, "")
	f("a\x00b", false, "")
	f("é.whl", false, "")
}
