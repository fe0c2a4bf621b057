package httpx

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseBasic(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f := func(hdr, user, pass, reason string) {
		t.Helper()
		u, p, r := ParseBasic([]byte(hdr))
		if u != user || p != pass || r != reason {
			t.Errorf("ParseBasic(%q) = %q %q %q, want %q %q %q", hdr, u, p, r, user, pass, reason)
		}
	}
	f("Basic "+b64("ci:s3cret"), "ci", "s3cret", "")
	f("  basic   "+b64("ci:a:b")+" ", "ci", "a:b", "") // the password may hold ':'
	f("BASIC "+b64(":"), "", "", "")                   // no login: the caller decides
	f("Basic "+b64("ci:"), "ci", "", "")
	f("Basic "+b64("no colon"), "", "", ReasonMalformedBasic)
	f("Basic not*base64", "", "", ReasonMalformedBasic)
	f("Basic", "", "", ReasonMalformedBasic)
	f("Bearer abc", "", "", ReasonNotBasic)
	f("Basicx "+b64("ci:pw"), "", "", ReasonNotBasic)
	f("", "", "", ReasonNotBasic)
}

// FuzzParseBasic: any header parses without panicking; what parses is the
// credentials it encodes (the user never holds ':'), and a reason comes
// with no credentials.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"Basic Y2k6czNjcmV0", "basic Og==", "Bearer x", "Basic ===", "", "Basic  Y2k6\t"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		user, pass, reason := ParseBasic(hdr)
		if reason != "" {
			if user != "" || pass != "" {
				t.Fatalf("ParseBasic(%q) refused (%s) but returned %q %q", hdr, reason, user, pass)
			}
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("ParseBasic(%q): user %q holds ':'", hdr, user)
		}
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		if u, p, r := ParseBasic([]byte(again)); u != user || p != pass || r != "" {
			t.Fatalf("ParseBasic(%q) = %q %q, but its encoding %q parses to %q %q %q", hdr, user, pass, again, u, p, r)
		}
	})
}
