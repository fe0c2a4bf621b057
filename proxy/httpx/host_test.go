package httpx

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidHost(t *testing.T) {
	f := func(h string, want bool) {
		t.Helper()
		if got := ValidHost([]byte(h)); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
	f("nora.local", true)
	f("nora.local:4000", true)
	f("Nora.Example.COM.", true)
	f("localhost:65535", true)
	f("10.0.0.1", true)
	f("10.0.0.1:80", true)
	f("[::1]", true)
	f("[::1]:4000", true)
	f("[2001:db8::1]:443", true)
	f("[::ffff:10.0.0.1]", true)
	f("compose_service", true)
	f(strings.Repeat("a", 63)+".b", true)

	f("", false)
	f(`evil.example",service="x`, false)
	f("a b", false)
	f("a,b", false)
	f("a;b", false)
	f("a/b", false)
	f("a\\b", false)
	f("a\r\nX-Injected: 1", false)
	f("user@host", false)
	f("host:", false)
	f("host:65536", false)
	f("host:123456", false)
	f("host:-1", false)
	f("host:8o", false)
	f(":80", false)
	f(".", false)
	f("a..b", false)
	f(".a", false)
	f("-a.b", false)
	f("a-.b", false)
	f(strings.Repeat("a", 64)+".b", false)
	f(strings.Repeat("a.", 127)+"ab", false) // 256 characters
	f("::1", false)
	f("[::1", false)
	f("::1]", false)
	f("[::1]x", false)
	f("[::1]:", false)
	f("[fe80::1%eth0]", false)
	f("[fe80::1%25eth0]", false)
	f("[10.0.0.1]", false)
	f("[]", false)
	f("[]:80", false)
	f("é.example", false)
}

// Whatever ValidHost accepts is the authority of an http URL, and can
// close neither a quoted string nor a header line.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"nora.local", "nora.local:4000", "10.0.0.1:80", "[::1]:4000", "[fe80::1%eth0]",
		`evil.example",service="x`, "user@host", "a..b", "host:65536", "[::ffff:1.2.3.4]", "x_y.z."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !ValidHost([]byte(h)) {
			return
		}
		if strings.ContainsAny(h, "\"\\,; \t\r\n@/?#%") {
			t.Fatalf("ValidHost(%q): has a character a link or a header parameter must not", h)
		}
		u, err := url.Parse("http://" + h + "/auth/token")
		if err != nil || u.Host != h || u.Path != "/auth/token" || u.User != nil {
			t.Fatalf("ValidHost(%q), but http://%s/auth/token parses to host %q path %q (%v)", h, h, u.Host, u.Path, err)
		}
	})
}
