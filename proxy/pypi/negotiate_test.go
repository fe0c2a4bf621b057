package pypi

import "testing"

func TestNegotiate(t *testing.T) {
	f := func(accept string, want format, wantOK bool) {
		t.Helper()
		got, ok := negotiate(accept)
		if got != want || ok != wantOK {
			t.Fatalf("negotiate(%q) = %v, %v; want %v, %v", accept, got, ok, want, wantOK)
		}
	}
	// pip >= 22.2
	f("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", formatJSON, true)
	// uv
	f("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", formatJSON, true)
	// old pip, browsers, curl
	f("text/html", formatHTML, true)
	f("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", formatHTML, true)
	f("*/*", formatHTML, true)
	f("*", formatHTML, true)
	f("", formatHTML, false)
	f("   ", formatHTML, false)
	// q decides, then specificity, then order
	f("text/html;q=0.5, application/vnd.pypi.simple.v1+json", formatJSON, true)
	f("application/vnd.pypi.simple.v1+json;q=0.5, text/html", formatHTML, true)
	f("application/vnd.pypi.simple.v1+html, application/vnd.pypi.simple.v1+json", formatHTMLv1, true)
	f("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html", formatJSON, true)
	f("application/*", formatHTMLv1, true)
	f("application/*;q=0.5, application/vnd.pypi.simple.v1+json", formatJSON, true)
	f("*/*;q=0.1, application/vnd.pypi.simple.v1+json;q=0.2", formatJSON, true)
	f("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", formatJSON, true)
	f("application/vnd.pypi.simple.latest+json", formatJSON, true)
	f("application/vnd.pypi.simple.latest+html", formatHTMLv1, true)
	f("text/html; charset=utf-8; q=0.3, application/vnd.pypi.simple.v1+json;q=0.2", formatHTML, true)
	// q=0 refuses; the most specific range sets the q
	f("application/vnd.pypi.simple.v1+json;q=0, */*", formatHTML, true)
	f("*/*, text/html;q=0", formatHTMLv1, true)
	f("text/html;q=0", formatHTML, false)
	// nothing acceptable, malformed: the default
	f("application/json", formatHTML, false)
	f("image/png, text/plain", formatHTML, false)
	f("application/vnd.pypi.simple.v1+json;q=2", formatHTML, false)
	f("application/vnd.pypi.simple.v1+json;q=abc", formatHTML, false)
	f("application/vnd.pypi.simple.v1+json;q=NaN", formatHTML, false)
	f(",,,;;;", formatHTML, false)
	f("application/vnd.pypi.simple.v2+json", formatHTML, false)
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
		"text/html", "*/*;q=0.1", "application/*", "a/b;q=0.5;x=y, ,", "text/html;q=1.0000001", "*;q=0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got, ok := negotiate(accept)
		if got < 0 || got >= numFormats {
			t.Fatalf("negotiate(%q) = %d", accept, got)
		}
		if !ok && got != formatHTML {
			t.Fatalf("negotiate(%q) without a match = %d, want the default", accept, got)
		}
	})
}
