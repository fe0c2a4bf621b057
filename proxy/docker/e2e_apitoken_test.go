package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
)

// TestAPITokenPush: `docker login` with an API token as the password (any
// user name) pushes what the token's permissions allow and nothing else;
// an expired or revoked token is refused, and so are the registry tokens
// issued for a token once it is revoked.
func TestAPITokenPush(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "audit.log")
	pn, tokens := proxytest.StartTokens(t, proxy.AppConfig{Docker: docker.DefaultConfig(), Audit: auth.AuditConfig{Path: audit}})
	n := &noraUnderTest{pn}
	laptop := tokens.Create(t, "laptop", "push:frontend/*")
	gone := tokens.Create(t, "gone", "push:**")
	img := imageTarball(t, randomImage(t, 16<<10, 1))

	c := newCLI(t, n.Addr, "", "")
	c.mustCrane("auth", "login", n.Addr, "-u", "anything", "-p", laptop)
	c.mustCrane("push", img, n.Addr+"/frontend/app:v1")
	refused := func(c *cli, ref, want string) {
		t.Helper()
		if out, err := c.crane("push", img, ref); err == nil || !strings.Contains(out, want) {
			t.Fatalf("push %s: %v, want a failure naming %s\n%s", ref, err, want, out)
		}
	}
	refused(c, n.Addr+"/backend/x:v1", "DENIED")
	refused(c, n.Addr+"/frontend/app/deep:v1", "DENIED") // "*" stays within a segment
	refused(newCLI(t, n.Addr, "ci", tokens.Expired), n.Addr+"/frontend/old:v1", "UNAUTHORIZED")

	// skopeo with the token in --dest-creds; then revoked, it is refused,
	// and so is the registry token issued for it before.
	copyTo := func(ref string) (string, error) {
		return c.skopeo("copy", "--dest-creds", "x:"+gone, "--dest-tls-verify=false",
			"docker-archive:"+img, "docker://"+ref)
	}
	if out, err := copyTo(n.Addr + "/backend/y:v1"); err != nil {
		t.Fatalf("skopeo copy with a token: %v\n%s", err, out)
	}
	jwt := token(t, n, "x", gone, "repository:backend/y:pull,push")
	if resp, body := do(t, "POST", n.url("/v2/backend/y/blobs/uploads/"), "", "", bearer(jwt), nil); resp.StatusCode != 202 {
		t.Fatalf("upload with the token's registry token: %d %s", resp.StatusCode, body)
	}
	tokens.Revoke(t, "gone")
	if resp, body := do(t, "POST", n.url("/v2/backend/y/blobs/uploads/"), "", "", bearer(jwt), nil); resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Fatalf("upload with a revoked token's registry token: %d %s, want 401 or 403", resp.StatusCode, body)
	}
	if out, err := copyTo(n.Addr + "/backend/y:v2"); err == nil || !strings.Contains(out, "unauthorized: invalid user name or password") {
		t.Fatalf("skopeo copy with a revoked token: %v, want unauthorized\n%s", err, out)
	}

	// The audit log names the tokens, never their secrets.
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{
		`"actor":"admin socket","action":"token-create","name":"laptop","result":"ok"`,
		`"actor":"admin socket","action":"token-revoke","name":"gone","result":"ok"`,
		`"actor":"token laptop","action":"push"`,
		`"actor":"token gone","action":"push"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, log)
		}
	}
	for _, secret := range []string{laptop, gone, tokens.Expired} {
		if strings.Contains(log, secret) {
			t.Fatalf("a token is in the audit log:\n%s", log)
		}
	}
}
