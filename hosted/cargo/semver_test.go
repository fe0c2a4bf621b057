package cargo

import (
	"strings"
	"testing"
)

func TestValidVersion(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := validVersion(s); got != want {
			t.Fatalf("validVersion(%q) = %v", s, got)
		}
	}
	f("0.1.0", true)
	f("1.2.3", true)
	f("10.20.30", true)
	f("1.0.0-alpha", true)
	f("1.0.0-alpha.1", true)
	f("1.0.0-0.3.7", true)
	f("1.0.0-x.7.z.92", true)
	f("1.0.0-x-y-z.--", true)
	f("1.0.0+20130313144700", true)
	f("1.0.0-beta+exp.sha.5114f85", true)
	f("1.0.0+21AF26D3----117B344092BD", true)
	f("18446744073709551615.0.0", true)
	f("", false)
	f("1", false)
	f("1.0", false)
	f("1.0.0.0", false)
	f("01.0.0", false)
	f("1.00.0", false)
	f("v1.0.0", false)
	f("1.0.0-", false)
	f("1.0.0-01", false)
	f("1.0.0-a..b", false)
	f("1.0.0+", false)
	f("1.0.0+a+b", false)
	f("1.0.0-a_b", false)
	f("1.0.0 ", false)
	f("18446744073709551616.0.0", false)
	f("1.0.0-"+strings.Repeat("a", 130), false)
}

func TestValidReq(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := validReq(s); got != want {
			t.Fatalf("validReq(%q) = %v", s, got)
		}
	}
	f("^0.1.0", true)
	f("0.1", true)
	f("1", true)
	f("*", true)
	f("=1.2.3", true)
	f("~1.2", true)
	f(">= 1.2, < 1.5", true)
	f(">=1.2.0,<2.0.0", true)
	f("1.*", true)
	f("1.x", true)
	f("1.2.X", true)
	f("^1.0.0-rc.1", true)
	f("=1.0.0+build", true)
	f("", false)
	f("^", false)
	f("1.*.3", false)
	f("1.*-rc", false)
	f("1.2-rc.1", false)
	f(">=1.2,", false)
	f("latest", false)
	f("~>1.2", false)
	f("1.2.3.4", false)
	f("01.2", false)
	f(strings.Repeat("1,", 200)+"1", false)
}

func TestValidRustVersion(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := validRustVersion(s); got != want {
			t.Fatalf("validRustVersion(%q) = %v", s, got)
		}
	}
	f("1", true)
	f("1.70", true)
	f("1.70.0", true)
	f("", false)
	f("1.70.0.1", false)
	f("1.70-beta", false)
	f("v1.70", false)
}

func TestCanonical(t *testing.T) {
	f := func(a, b string, same bool) {
		t.Helper()
		if (canonical(a) == canonical(b)) != same {
			t.Fatalf("canonical(%q) vs canonical(%q): want same=%v", a, b, same)
		}
	}
	f("acme-lib", "acme_lib", true)
	f("acme-lib", "ACME-LIB", true)
	f("Acme_Lib", "acme-lib", true)
	f("acme-lib", "acmelib", false)
	f("acme-lib", "acme-lib2", false)
}
