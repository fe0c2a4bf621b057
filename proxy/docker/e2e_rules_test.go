package docker_test

import (
	"path/filepath"
	"testing"
	"time"

	"nora/auth"
	"nora/auth/authtest"
	"nora/hosted/oci"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
)

// TestRulesMatrix drives the access matrix of issue 12 with crane, through
// the token flow: anonymous, reader, a writer of another prefix, writer
// and admin × push, pull, delete on team/app. Exactly the allowed cells
// succeed; the others fail with the registry's UNAUTHORIZED (no login) or
// DENIED (a login without the permission).
func TestRulesMatrix(t *testing.T) {
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(), HostedOCI: &oci.Config{},
		Auth: authtest.Config(t, "docker", "team/**", "other/**")}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	n := proxytest.Start(t, cfg)
	repo := n.Addr + "/team/app"
	img := randomImage(t, 8<<10, 1)
	tarball := imageTarball(t, img)
	digest := digestOf(t, img)
	errs := authtest.Errors{Unauthorized: []string{"UNAUTHORIZED", "401 Unauthorized"}, Forbidden: []string{"DENIED", "403 Forbidden"}}
	clients := map[string]*cli{}
	for _, s := range authtest.Subjects {
		clients[s.Name] = newCLI(t, n.Addr, s.User, s.Pass)
	}
	cell := func(action auth.Action, args func(s authtest.Subject) []string) {
		t.Helper()
		authtest.Row(t, action, errs, func(s authtest.Subject) (string, error) { return clients[s.Name].crane(args(s)...) })
	}
	cell(auth.Push, func(s authtest.Subject) []string { return []string{"push", tarball, repo + ":" + s.Name} })
	cell(auth.Pull, func(authtest.Subject) []string {
		return []string{"pull", repo + ":" + authtest.Writer.Name, filepath.Join(t.TempDir(), "img.tar")}
	})
	cell(auth.Delete, func(authtest.Subject) []string { return []string{"delete", repo + "@" + digest} })
	if out, err := clients[authtest.Admin.Name].crane("digest", repo+":"+authtest.Writer.Name); err == nil {
		t.Fatalf("the admin's delete left the manifest: %s", out)
	}
}
