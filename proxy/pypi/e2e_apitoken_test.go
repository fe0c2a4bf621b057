package pypi_test

import (
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
)

// TestAPITokenUpload: twine uploads with an API token as the password
// (user __token__, as for PyPI) what the token's permissions allow; other
// projects are forbidden, an expired or revoked token is unauthorized.
func TestAPITokenUpload(t *testing.T) {
	d := hostedFixtures(t)
	pn, tokens := proxytest.StartTokens(t, proxy.AppConfig{PyPI: pypi.DefaultConfig()})
	n := &noraUnderTest{pn}
	laptop := tokens.Create(t, "laptop", "push:pypi:acme-lib")
	gone := tokens.Create(t, "gone", "push:**")

	f := func(token, file, want string) {
		t.Helper()
		out, err := twine(t, n, "__token__", token, file)
		if want == "" && err != nil {
			t.Fatalf("twine upload %s: %v\n%s", file, err, out)
		}
		if want != "" && (err == nil || !strings.Contains(out, want)) {
			t.Fatalf("twine upload %s: %v, want a failure naming %s\n%s", file, err, want, out)
		}
	}
	f(laptop, d["acme-lib 1.0.0"].wheel, "")
	f(laptop, d["acme-tool 1.0.0"].wheel, "403")
	f(tokens.Expired, d["acme-lib 1.1.0"].wheel, "401")
	f(gone, d["acme-tool 1.0.0"].wheel, "")
	tokens.Revoke(t, "gone")
	f(gone, d["acme-lib 1.1.0"].wheel, "401")
	if got := installedVersion(t, n, "acme_lib", "acme-lib"); got != "1.0.0" {
		t.Fatalf("pip installed acme-lib %s, want the one upload 1.0.0", got)
	}
}
