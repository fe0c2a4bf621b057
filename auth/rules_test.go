package auth

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// siteRules is the example: team-frontend pushes frontend/* and
// @frontend/*, everyone pulls, only admin deletes.
func siteRules() Config {
	return Config{
		Groups: map[string][]string{"team-frontend": {"alice", "bob"}, "ops": {"root"}},
		Rules: []Rule{
			{Subject: "team-frontend", Permissions: []string{"push:frontend/*", "push:npm:@frontend/*"}},
			{Subject: "reader", Permissions: []string{"pull:**"}},
			{Subject: "alice", Permissions: []string{"pull:**"}},
			{Subject: "ops", Permissions: []string{"admin:**"}},
			{Subject: "laptop", Permissions: []string{"push:frontend/**"}},
		},
	}
}

// rulesLocal is a Local of cfg whose htpasswd file knows users, each with
// password "pw"; with no users, a Local without htpasswd.
func rulesLocal(t testing.TB, cfg Config, users ...string) *Local {
	t.Helper()
	if len(users) > 0 {
		cfg.Htpasswd = filepath.Join(t.TempDir(), "htpasswd")
		var entries []any
		for _, u := range users {
			entries = append(entries, u, "pw", bcrypt.MinCost)
		}
		writeHtpasswd(t, cfg.Htpasswd, entries...)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func login(t testing.TB, l *Local, user string) *Identity {
	t.Helper()
	id, err := l.Authenticate(user, "pw")
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return id
}

func TestRules(t *testing.T) {
	l := rulesLocal(t, siteRules(), "alice", "bob", "reader", "root", "mallory")
	f := func(user string, action Action, format, name string, want bool) {
		t.Helper()
		id := login(t, l, user)
		for range 2 { // the second answer comes from the cache
			if got := l.Allowed(id, action, format, name); got != want {
				t.Fatalf("%s %s %s %s = %v, want %v", user, action, format, name, got, want)
			}
			l.decided.c.Wait()
		}
	}
	f("alice", Push, "docker", "frontend/web", true)
	f("alice", Pull, "docker", "frontend/web", true) // push implies pull
	f("alice", Push, "docker", "frontend/web/x", false)
	f("alice", Push, "docker", "backend/x", false)
	f("alice", Push, "npm", "@frontend/ui", true)
	f("alice", Push, "pypi", "@frontend/ui", false) // the rule names npm
	f("alice", Delete, "docker", "frontend/web", false)
	f("alice", Pull, "maven", "org/x/y", true) // her own rule: pull:**
	f("bob", Pull, "maven", "org/x/y", false)  // only his group's
	f("reader", Pull, "docker", "a/b/c", true)
	f("reader", Push, "docker", "a", false)
	f("root", Delete, "docker", "backend/x/y", true) // admin implies all
	f("root", Admin, "npm", "x", true)
	f("mallory", Pull, "docker", "x", false) // no rule names her
	f("mallory", Push, "docker", "x", false)
	if l.Allowed(nil, Pull, "docker", "x") {
		t.Fatal("anonymous pull with anonymous_read off")
	}
	if id := login(t, l, "alice"); !slices.Equal(id.Subjects, []string{"alice", "team-frontend"}) || id.Kind != User || id.Actor != "alice" {
		t.Fatalf("alice's identity: %+v", id)
	}
}

// Without [[auth.rules]] any htpasswd user may do anything, as before.
func TestNoRules(t *testing.T) {
	l := rulesLocal(t, Config{Groups: map[string][]string{"g": {"u"}}}, "u")
	id := login(t, l, "u")
	for _, a := range []Action{Pull, Push, Delete, Admin} {
		if !l.Allowed(id, a, "cargo", "x/y") {
			t.Fatalf("%s without rules refused", a)
		}
	}
	if l.Allowed(nil, Push, "cargo", "x") {
		t.Fatal("anonymous push")
	}
}

// tokenSource stands for the API token and OIDC verifiers: it knows the
// names in live, and says whether it is Active.
type tokenSource struct {
	live   map[string]bool
	active bool
}

func (tokenSource) Verify(string) (*Identity, error) { return nil, ErrNotMine }
func (s tokenSource) Current(id *Identity) bool      { return s.live[id.Name] }
func (s tokenSource) Active() bool                   { return s.active }

func perms(t testing.TB, ps ...string) []Permission {
	t.Helper()
	p, err := ParsePermissions(ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenIdentities(t *testing.T) {
	l := rulesLocal(t, siteRules(), "alice")
	if !l.WritesEnabled() {
		t.Fatal("writes off with an htpasswd file")
	}
	l.AddVerifier(tokenSource{live: map[string]bool{"laptop": true, "ci": true}})
	tok := func(name string, limit ...string) *Identity {
		id := &Identity{Name: name, Kind: APIToken, Subjects: []string{name}, Actor: "token " + name}
		if limit != nil {
			id.Limit = perms(t, limit...)
		}
		return id
	}
	f := func(id *Identity, action Action, name string, want bool) {
		t.Helper()
		for range 2 {
			if got := l.Allowed(id, action, "docker", name); got != want {
				t.Fatalf("token %s %v: %s %s = %v, want %v", id.Name, id.Limit, action, name, got, want)
			}
			l.decided.c.Wait()
		}
	}
	// A rule names laptop: the rule and the limit both apply.
	f(tok("laptop", "push:**"), Push, "frontend/a/b", true)
	f(tok("laptop", "push:**"), Push, "backend/a", false)
	f(tok("laptop", "push:frontend/a"), Push, "frontend/b", false)
	// No rule names ci: its limit alone decides.
	f(tok("ci", "push:backend/*"), Push, "backend/a", true)
	f(tok("ci", "push:backend/*"), Delete, "backend/a", false)
	f(tok("ci"), Pull, "backend/a", false) // no limit, no rule: nothing
	// Revoked (no verifier says it is current).
	f(tok("gone", "admin:**"), Pull, "x", false)
	// A limit caps a group's grant too: an OIDC token of team-frontend.
	oidc := &Identity{Name: "gha", Kind: OIDC, Subjects: []string{"team-frontend"}, Limit: perms(t, "pull:**")}
	l.AddVerifier(tokenSource{live: map[string]bool{"gha": true}})
	f(oidc, Pull, "frontend/x", true)
	f(oidc, Push, "frontend/x", false)

	// Writes come with tokens alone, when a verifier is active.
	none := rulesLocal(t, Config{})
	if none.WritesEnabled() {
		t.Fatal("writes on with no user source")
	}
	none.AddVerifier(tokenSource{})
	if none.WritesEnabled() {
		t.Fatal("writes on with an inactive verifier")
	}
	none.AddVerifier(tokenSource{active: true})
	if !none.WritesEnabled() {
		t.Fatal("writes off with an active verifier")
	}
}

// A reload replaces the groups and rules for identities authenticated
// before it as well, and drops the decisions cached for the old ones.
func TestReloadRules(t *testing.T) {
	cfg := siteRules()
	l := rulesLocal(t, cfg, "alice", "bob")
	bob := login(t, l, "bob")
	if !l.Allowed(bob, Push, "docker", "frontend/x") {
		t.Fatal("bob cannot push before the reload")
	}
	l.decided.c.Wait()
	next := cfg
	next.Groups = map[string][]string{"team-frontend": {"alice"}}
	if err := l.ReloadRules(next); err != nil {
		t.Fatal(err)
	}
	if l.Allowed(bob, Push, "docker", "frontend/x") {
		t.Fatal("bob pushes after leaving the group")
	}
	if !l.Allowed(login(t, l, "alice"), Push, "docker", "frontend/x") {
		t.Fatal("alice lost her group")
	}
	bad := next
	bad.Rules = append(slices.Clone(next.Rules), Rule{Subject: "x", Permissions: []string{"write:**"}})
	if err := l.ReloadRules(bad); err == nil || !strings.Contains(err.Error(), `unknown action "write"`) {
		t.Fatalf("bad rule: %v", err)
	}
	if !l.Allowed(login(t, l, "alice"), Push, "docker", "frontend/x") {
		t.Fatal("a refused reload changed the rules")
	}
	// Reload (the htpasswd file alone) keeps the rules it has.
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if l.Allowed(login(t, l, "bob"), Push, "docker", "frontend/x") {
		t.Fatal("Reload brought back the old groups")
	}
}

func TestCompileRulesRefuses(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		if _, err := compileRules(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("compileRules(%+v) = %v, want %q", cfg, err, want)
		}
	}
	f(Config{Rules: []Rule{{Subject: "", Permissions: []string{"pull:**"}}}}, "auth.rules[0]: subject is required")
	f(Config{Rules: []Rule{{Subject: "a"}, {Subject: "b", Permissions: []string{"pull:docker:"}}}}, "auth.rules[1]: permission")
	f(Config{Groups: map[string][]string{"g": {""}}}, "auth.groups.g: empty user name")
}

// The decision key tells apart questions that differ in one input only.
func TestDecisionKeys(t *testing.T) {
	d, err := newDecisions()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	base := func() (uint64, *Identity, Action, string, string) {
		return 1, &Identity{Name: "a", Kind: APIToken, Subjects: []string{"a", "b"}, Limit: perms(t, "push:x")}, Push, "npm", "x"
	}
	seen := map[uint64]string{}
	add := func(what string, gen uint64, id *Identity, a Action, f, n string) {
		t.Helper()
		k, _ := d.hashes(gen, id, a, f, n)
		if other, dup := seen[k]; dup {
			t.Fatalf("%s has the key of %s", what, other)
		}
		seen[k] = what
	}
	g, id, a, f, n := base()
	add("base", g, id, a, f, n)
	add("gen", 2, id, a, f, n)
	add("action", g, id, Pull, f, n)
	add("format", g, id, a, "docker", n)
	add("name", g, id, a, f, "y")
	id.Subjects = []string{"ab"}
	add("subjects", g, id, a, f, n)
	_, id, _, _, _ = base()
	id.Limit = nil
	add("no limit", g, id, a, f, n)
	_, id, _, _, _ = base()
	id.Limit = perms(t, "push:npm:x")
	add("limit", g, id, a, f, n)
	_, id, _, _, _ = base()
	id.Kind = OIDC
	add("kind", g, id, a, f, n)
}

// BenchmarkAllowedCached is the decision of a push that every request of
// it asks again: a cache hit (issue 12 aims below 10 µs and no allocation).
func BenchmarkAllowedCached(b *testing.B) {
	cfg := siteRules()
	for i := range 50 { // a site of some size: more rules to miss
		cfg.Rules = append(cfg.Rules, Rule{Subject: "team" + string(rune('a'+i%26)), Permissions: []string{"push:team/**"}})
	}
	l := rulesLocal(b, cfg, "alice")
	id := login(b, l, "alice")
	l.Allowed(id, Push, "docker", "frontend/web")
	l.decided.c.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !l.Allowed(id, Push, "docker", "frontend/web") {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowedUncached is the same question with the cache dropped
// every time: the cost of deciding from the rules.
func BenchmarkAllowedUncached(b *testing.B) {
	l := rulesLocal(b, siteRules(), "alice")
	id := login(b, l, "alice")
	r := l.rules.Load()
	b.ReportAllocs()
	for b.Loop() {
		if !r.decide(id, Push, "docker", "frontend/web") {
			b.Fatal("refused")
		}
	}
}
