package npm_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// tokenClient is the npm CLI with an API token as its _authToken (sent as
// a Bearer token).
func tokenClient(t *testing.T, n *proxytest.Nora, token string) *npmClient {
	t.Helper()
	c := &npmClient{t: t, home: t.TempDir()}
	c.rc = filepath.Join(c.home, "npmrc")
	rc := "registry=" + n.URL + "/npm/\nfetch-retries=0\nupdate-notifier=false\nfund=false\naudit=false\n" +
		strings.TrimPrefix(n.URL, "http:") + "/npm/:_authToken=" + token + "\n"
	if err := os.WriteFile(c.rc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAPITokenPublish: npm publishes with an API token as _authToken what
// the token's permissions allow; other names are forbidden, an expired or
// revoked token is unauthorized.
func TestAPITokenPublish(t *testing.T) {
	cfg := npm.DefaultConfig()
	cfg.HostedNames = []string{"@frontend/*", "@backend/*"}
	n, tokens := proxytest.StartTokens(t, proxy.AppConfig{Npm: cfg})
	laptop := tokenClient(t, n, tokens.Create(t, "laptop", "push:npm:@frontend/*"))
	gone := tokenClient(t, n, tokens.Create(t, "gone", "push:**"))

	laptop.publish("@frontend/ui", "1.0.0", nil, "module.exports = 'ui';\n")
	if got := laptop.must("", "view", "@frontend/ui", "version"); strings.TrimSpace(got) != "1.0.0" {
		t.Fatalf("npm view: %q", got)
	}
	if got := laptop.must("", "whoami"); strings.TrimSpace(got) != "laptop" {
		t.Fatalf("npm whoami: %q", got)
	}
	pkg := func(name string) string { return npmtest.WritePackage(t, name, "1.0.0", nil, "module.exports = 1;\n") }
	laptop.mustFail(pkg("@backend/x"), "E403", "publish")
	tokenClient(t, n, tokens.Expired).mustFail(pkg("@frontend/old"), "E401", "publish")
	gone.publish("@backend/y", "1.0.0", nil, "module.exports = 'y';\n")
	tokens.Revoke(t, "gone")
	gone.mustFail(pkg("@backend/z"), "E401", "publish")
}
