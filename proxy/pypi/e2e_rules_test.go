package pypi_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"nora/auth"
	"nora/auth/authtest"
	"nora/proxy/pypi"
)

// TestRulesMatrix drives the access matrix of issue 12 with twine and pip:
// anonymous, reader, a writer of another prefix, writer and admin × upload
// (twine), download (pip), yank (nora's API, which is the delete of PyPI) of
// team-pkg. Exactly the allowed cells succeed; the others fail with a 401
// (no login) or 403 (a login without the permission), as each client
// reports them.
func TestRulesMatrix(t *testing.T) {
	cfg := pypi.DefaultConfig()
	cfg.Upstream = "http://127.0.0.1:1/simple/" // nothing upstream: every name here is hosted
	n := startNoraAuth(t, cfg, authtest.Config(t, "pypi", "team-*", "other-*"))
	version := func(s authtest.Subject) string {
		return fmt.Sprintf("1.0.%d", slices.Index(authtest.Subjects, s))
	}
	authtest.Row(t, auth.Push, authtest.Errors{Unauthorized: []string{"Credential not found"}, Forbidden: []string{"403 Forbidden"}}, func(s authtest.Subject) (string, error) {
		name, data := makeWheel(t, "team-pkg", version(s), "", "")
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return twine(t, n, s.User, s.Pass, path)
	})
	authtest.Row(t, auth.Pull, authtest.Errors{Unauthorized: []string{"401 Client Error"}, Forbidden: []string{"403 Client Error"}}, func(s authtest.Subject) (string, error) {
		index, _ := url.Parse(n.URL + "/simple/")
		if s.User != "" {
			index.User = url.UserPassword(s.User, s.Pass)
		}
		// pip says why it skipped a page only at -vv.
		out, err := pip(t, "download", "-vv", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--retries", "0", "--timeout", "20",
			"--index-url", index.String(), "-d", t.TempDir(), "team-pkg=="+version(authtest.Writer))
		return out, err
	})
	authtest.Row(t, auth.Delete, authtest.Errors{Unauthorized: []string{"401 Unauthorized"}, Forbidden: []string{"403 Forbidden"}}, func(s authtest.Subject) (string, error) {
		resp, body := post(t, n.URL+"/api/pypi/team-pkg/"+version(authtest.Admin)+"/yank", s.User, s.Pass, "application/json", nil)
		out := resp.Status + " " + body
		if resp.StatusCode != 200 {
			return out, fmt.Errorf("yank: %s", resp.Status)
		}
		return out, nil
	})
}
