package cargo_test

import (
	"fmt"
	"slices"
	"testing"

	"nora/auth"
	"nora/auth/authtest"
	"nora/proxy/cargo/cargotest"
)

// TestRulesMatrix drives the access matrix of issue 12 with cargo:
// anonymous, reader, a writer of another prefix, writer and admin ×
// publish, fetch, yank of team-pkg. Exactly the allowed cells succeed; the
// others fail with a 401 (or, without a token, cargo's own refusal to go
// on) or a 403, as cargo reports them.
func TestRulesMatrix(t *testing.T) {
	n := startNoraAuth(t, alwaysRevalidate(cargotest.New(t, cargotest.Options{})), authtest.Config(t, "cargo", "team-*", "other-*"))
	errs := authtest.Errors{Unauthorized: []string{"401 Unauthorized", "got 401", "no token found"}, Forbidden: []string{"403 Forbidden", "got 403"}}
	users := map[string]*cargoUser{}
	for _, s := range authtest.Subjects {
		token := ""
		if s.User != "" {
			token = basicToken(s.User, s.Pass)
		}
		users[s.Name] = newCargoUser(t, n.Addr, token)
	}
	version := func(s authtest.Subject) string {
		return fmt.Sprintf("0.1.%d", slices.Index(authtest.Subjects, s))
	}
	cell := func(action auth.Action, run func(u *cargoUser, s authtest.Subject) (string, error)) {
		t.Helper()
		authtest.Row(t, action, errs, func(s authtest.Subject) (string, error) { return run(users[s.Name], s) })
	}
	cell(auth.Push, func(u *cargoUser, s authtest.Subject) (string, error) {
		return u.publish(t, u.crate(t, "team-pkg", version(s), "", ""))
	})
	cell(auth.Pull, func(u *cargoUser, _ authtest.Subject) (string, error) {
		return u.install(t, u.app(t, `team-pkg = "=`+version(authtest.Writer)+`"`))
	})
	cell(auth.Delete, func(u *cargoUser, _ authtest.Subject) (string, error) {
		return u.run(t, u.home, "yank", "--registry", "nora", "--version", version(authtest.Admin), "team-pkg")
	})
}
