package npm_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"nora/auth"
	"nora/auth/authtest"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestRulesMatrix drives the access matrix of issue 12 with the npm CLI:
// anonymous, reader, a writer of another scope, writer and admin × publish,
// install, unpublish of @team/pkg. Exactly the allowed cells succeed; the
// others fail with npm's E401 (no login) or E403 (a login without the
// permission).
func TestRulesMatrix(t *testing.T) {
	cfg := npm.DefaultConfig()
	cfg.Upstream, cfg.HostedNames = "http://127.0.0.1:1", []string{"@team/*", "@other/*"} // nothing upstream
	n := proxytest.Start(t, proxy.AppConfig{Npm: cfg, Auth: authtest.Config(t, "npm", "@team/*", "@other/*")})
	errs := authtest.Errors{Unauthorized: []string{"E401", "ENEEDAUTH"}, Forbidden: []string{"E403"}}
	clients := map[string]*npmClient{}
	for _, s := range authtest.Subjects {
		clients[s.Name] = newClient(t, n, s.User, s.Pass)
	}
	// Each subject publishes a version of its own: 1.0.<its row>.
	version := func(s authtest.Subject) string {
		return fmt.Sprintf("1.0.%d", slices.Index(authtest.Subjects, s))
	}
	cell := func(action auth.Action, run func(c *npmClient, s authtest.Subject) (string, error)) {
		t.Helper()
		authtest.Row(t, action, errs, func(s authtest.Subject) (string, error) { return run(clients[s.Name], s) })
	}
	cell(auth.Push, func(c *npmClient, s authtest.Subject) (string, error) {
		return c.run(npmtest.WritePackage(t, "@team/pkg", version(s), nil, "module.exports = 1;\n"), "publish")
	})
	cell(auth.Pull, func(c *npmClient, _ authtest.Subject) (string, error) {
		return c.run(newProject(t), "install", "@team/pkg@"+version(authtest.Writer), "--no-audit", "--no-fund")
	})
	cell(auth.Delete, func(c *npmClient, _ authtest.Subject) (string, error) {
		return c.run("", "unpublish", "@team/pkg@"+version(authtest.Admin))
	})
	out := clients[authtest.Reader.Name].must("", "view", "@team/pkg", "versions", "--json")
	var versions []string
	if err := json.Unmarshal([]byte(out), &versions); err != nil || !slices.Equal(versions, []string{version(authtest.Writer)}) {
		t.Fatalf("versions after the matrix: %s, want the writer's alone", out)
	}
}
