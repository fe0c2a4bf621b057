// Package authtest holds the access matrix of issue 12 that the format
// packages' end-to-end tests drive with their real clients: subjects with
// rules, the cells each may do, and the check of a client's answer. Only
// tests import it.
package authtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
)

// Subject is one row of the matrix: who asks (User "" is anonymous).
type Subject struct {
	Name, User, Pass string
}

// Anonymous, Reader (pull only), Other (a writer of another prefix),
// Writer and Admin, in the order the matrix runs them: the admin last, so
// that its delete comes after every other cell.
var (
	Anonymous = Subject{Name: "anonymous"}
	Reader    = Subject{Name: "reader", User: "reader", Pass: "reader-pw-1"}
	Other     = Subject{Name: "other-writer", User: "other", Pass: "other-pw-2"}
	Writer    = Subject{Name: "writer", User: "writer", Pass: "writer-pw-3"}
	Admin     = Subject{Name: "admin", User: "root", Pass: "root-pw-4"}
	Subjects  = []Subject{Anonymous, Reader, Other, Writer, Admin}
)

// Config is an [auth] section with anonymous_read off, an htpasswd file of
// the matrix's users, and rules giving, in format: the reader pull on
// everything, the writer (through its group) push on mine, the other
// writer push on theirs, the admin everything.
func Config(t testing.TB, format, mine, theirs string) *auth.Config {
	t.Helper()
	var b strings.Builder
	for _, s := range Subjects[1:] {
		h, err := bcrypt.GenerateFromPassword([]byte(s.Pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(s.User + ":" + string(h) + "\n")
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return &auth.Config{
		Htpasswd: path,
		Groups:   map[string][]string{"team": {Writer.User}},
		Rules: []auth.Rule{
			{Subject: Reader.User, Permissions: []string{"pull:**"}},
			{Subject: "team", Permissions: []string{"push:" + format + ":" + mine}},
			{Subject: Other.User, Permissions: []string{"push:" + format + ":" + theirs}},
			{Subject: Admin.User, Permissions: []string{"admin:**"}},
		},
	}
}

// Allowed is the matrix: whether s may do action on a name under mine.
func Allowed(s Subject, action auth.Action) bool {
	switch s {
	case Reader:
		return action == auth.Pull
	case Writer:
		return action != auth.Delete
	case Admin:
		return true
	}
	return false
}

// Errors are what a format's client prints for nora's refusals, any one of
// each list: for missing credentials (a 401, or the client's own refusal
// to go on without a login) and for a known user without the permission
// (a 403).
type Errors struct{ Unauthorized, Forbidden []string }

// Check fails t unless the client's run (output out, error err) of action
// by s did what the matrix says: succeeded when allowed, else failed with
// the format's own 401 (anonymous) or 403 (a user) error.
func Check(t testing.TB, s Subject, action auth.Action, out string, err error, e Errors) {
	t.Helper()
	want := Allowed(s, action)
	switch {
	case want && err != nil:
		t.Errorf("%s %s: refused, want allowed: %v\n%s", s.Name, action, err, tail(out))
	case !want && err == nil:
		t.Errorf("%s %s: succeeded, want refused\n%s", s.Name, action, tail(out))
	case !want && s == Anonymous && !containsAny(out, e.Unauthorized):
		t.Errorf("%s %s: failed without any of %q\n%s", s.Name, action, e.Unauthorized, tail(out))
	case !want && s != Anonymous && !containsAny(out, e.Forbidden):
		t.Errorf("%s %s: failed without any of %q\n%s", s.Name, action, e.Forbidden, tail(out))
	}
}

// Row runs action for every subject in order, checking each run.
func Row(t testing.TB, action auth.Action, e Errors, run func(s Subject) (string, error)) {
	t.Helper()
	for _, s := range Subjects {
		out, err := run(s)
		Check(t, s, action, out, err, e)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// tail is the end of a client's output, where its error is.
func tail(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}
