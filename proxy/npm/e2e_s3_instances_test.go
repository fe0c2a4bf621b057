package npm_test

import (
	"net/http"
	"testing"
	"time"

	"nora/auth"
	"nora/cache/s3/s3test"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestS3InstancesPublishInstall: two noras on one bucket, each with a
// local path of its own, as behind a load balancer. What npm publishes
// through one, npm installs through the other at once, even where the
// other had served the name from the upstream before; versions published
// through each land in one package.
func TestS3InstancesPublishInstall(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	up := npmtest.NewRegistry(t)
	up.Publish(t, "acme-lib", "9.9.9", 64)
	start := func() *proxytest.Nora {
		ac := auth.DefaultConfig()
		ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
		return proxytest.Start(t, proxy.AppConfig{Npm: npm.Config{Upstream: up.URL}, Auth: &ac,
			Storage: proxytest.S3Storage(t, srv, bucket)})
	}
	first, second := start(), start()
	dev := newClient(t, second, "", "")
	if got := installedVersion(t, dev.install("acme-lib"), "acme-lib"); got != "9.9.9" {
		t.Fatalf("before any publish, the second nora installs acme-lib %s, want the upstream's 9.9.9", got)
	}

	// npm's own check saw 9.9.9 upstream, hence the explicit tag.
	newClient(t, first, testUser, testPass).publish("acme-lib", "1.0.0", nil, "module.exports = 'hosted 1';\n", "--tag", "latest")
	hits := up.Hits("/acme-lib")
	proj := dev.install("acme-lib@1.0.0")
	if got := nodeEval(t, proj, "process.stdout.write(require('acme-lib'))"); got != "hosted 1" {
		t.Fatalf("the second nora installs %q", got)
	}
	if got := up.Hits("/acme-lib"); got != hits {
		t.Fatalf("the second nora asked the upstream about a name the first hosts (%d -> %d)", hits, got)
	}

	// The other way round, on top of the first's version.
	newClient(t, second, testUser, testPass).publish("acme-lib", "1.1.0", nil, "module.exports = 'hosted 1.1';\n")
	ops := newClient(t, first, "", "")
	if got := installedVersion(t, ops.install("acme-lib@^1.0.0"), "acme-lib"); got != "1.1.0" {
		t.Fatalf("the first nora resolves acme-lib@^1.0.0 to %s, want 1.1.0", got)
	}
	if got := installedVersion(t, ops.install("acme-lib@1.0.0"), "acme-lib"); got != "1.0.0" {
		t.Fatalf("the first nora installs acme-lib@1.0.0 as %s", got)
	}
}

// TestS3InstancesAPIToken: an API token made on one nora works on the
// other nora of the bucket, and stops working there once revoked on the
// first (within auth.CheckEvery; polled with a deadline).
func TestS3InstancesAPIToken(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	cfg := npm.DefaultConfig()
	cfg.HostedNames = []string{"@frontend/*"}
	start := func() (*proxytest.Nora, *proxytest.Tokens) {
		return proxytest.StartTokens(t, proxy.AppConfig{Npm: cfg, Storage: proxytest.S3Storage(t, srv, bucket)})
	}
	first, tokens := start()
	second, _ := start()
	tok := tokens.Create(t, "laptop", "push:npm:@frontend/*")
	waitWhoami(t, second, tok, http.StatusOK)
	tokenClient(t, second, tok).publish("@frontend/ui", "1.0.0", nil, "module.exports = 'ui';\n")
	if got := installedVersion(t, newClient(t, first, "", "").install("@frontend/ui"), "@frontend/ui"); got != "1.0.0" {
		t.Fatalf("the first nora installs @frontend/ui %s", got)
	}
	tokens.Revoke(t, "laptop")
	waitWhoami(t, second, tok, http.StatusUnauthorized)
}

// waitWhoami polls n's whoami with tok until it answers want.
func waitWhoami(t *testing.T, n *proxytest.Nora, tok string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := get(t, n.URL+"/npm/-/whoami", "Authorization", "Bearer "+tok)
		if resp.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("whoami still answers %d (%s), want %d", resp.StatusCode, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
