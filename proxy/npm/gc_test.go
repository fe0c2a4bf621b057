package npm_test

import (
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestHostedTarballsMarked: GC marks the tarballs of hosted versions, so
// that it never sweeps them (the wiring hands the hosted state to the GC).
func TestHostedTarballsMarked(t *testing.T) {
	ac := auth.DefaultConfig()
	ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	n := proxytest.Start(t, proxy.AppConfig{Npm: npm.Config{}, Auth: &ac})
	if got := n.GCMarked(t); got != 0 {
		t.Fatalf("%d digests marked before any publish", got)
	}
	tgz := npmtest.Tarball(t, "@acme/lib", "1.0.0", 1000)
	resp, b := do(t, "PUT", n.URL+"/npm/@acme%2flib", strings.NewReader(string(publishDoc("@acme/lib", "1.0.0", tgz))),
		"Content-Type", "application/json", "Authorization", basicAuth(testUser, testPass))
	if resp.StatusCode != 201 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	if got := n.GCMarked(t); got != 1 {
		t.Fatalf("%d digests marked after publishing one tarball, want 1", got)
	}
}
