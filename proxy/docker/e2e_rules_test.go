package docker_test

import (
	"path/filepath"
	"strings"
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

// TestRulesAPITokens pushes with API tokens through crane: a token for
// frontend/* that no rule names pushes frontend/app and not backend/x or
// frontend/a/b; a token for everything that a rule names pushes only what
// the rule grants; a registry token fetched with an API token for pull
// never pushes.
func TestRulesAPITokens(t *testing.T) {
	ac := authtest.Config(t, "docker", "team/**", "other/**")
	ac.Rules = append(ac.Rules, auth.Rule{Subject: "capped", Permissions: []string{"push:docker:team/**"}})
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(), HostedOCI: &oci.Config{}, Auth: ac}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	n, tokens := proxytest.StartTokens(t, cfg)
	tarball := imageTarball(t, randomImage(t, 4<<10, 1))
	push := func(token, repo string, want bool) {
		t.Helper()
		out, err := newCLI(t, n.Addr, "ci", token).crane("push", tarball, n.Addr+"/"+repo+":v1")
		switch {
		case want && err != nil:
			t.Errorf("push %s: %v\n%s", repo, err, out)
		case !want && (err == nil || !strings.Contains(out, "403 Forbidden") && !strings.Contains(out, "DENIED")):
			t.Errorf("push %s: %v, want a 403\n%s", repo, err, out)
		}
	}
	laptop := tokens.Create(t, "laptop", "push:frontend/*")
	push(laptop, "frontend/app", true)
	push(laptop, "backend/x", false)
	push(laptop, "frontend/a/b", false)
	capped := tokens.Create(t, "capped", "push:**")
	push(capped, "team/app", true)
	push(capped, "other/app", false)

	nut := &noraUnderTest{n}
	pull := token(t, nut, "ci", laptop, "repository:frontend/app:pull")
	if resp, body := do(t, "POST", n.URL+"/v2/frontend/app/blobs/uploads/", "", "", bearer(pull), nil); resp.StatusCode != 401 {
		t.Fatalf("push with a pull-scoped registry token: %d %s, want 401", resp.StatusCode, body)
	}
}
