package tenant

import (
	"net/netip"
	"strings"
	"testing"

	"nora/auth"
)

func TestNewRefuses(t *testing.T) {
	f := func(want string, o Options) {
		t.Helper()
		_, err := New(o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New = %v, want an error with %q", err, want)
		}
	}
	one := func(c Config) Options { return Options{Tenants: []Config{c}} }
	f("without a name", one(Config{}))
	f("letters, digits", one(Config{Name: `a"b`}))
	f("declared twice", Options{Tenants: []Config{{Name: "a"}, {Name: "a"}}})
	f("declared twice", Options{Tenants: []Config{{Name: Default}, {Name: Default}}})
	f("has no prefixes", one(Config{Name: Default, Prefixes: []string{"x/**"}}))
	f("invalid glob", one(Config{Name: "a", Prefixes: []string{"a/[**"}}))
	f("empty glob", one(Config{Name: "a", Prefixes: []string{"npm:"}}))
	f(`unknown format "rpm"`, one(Config{Name: "a", Prefixes: []string{"rpm:a/*"}}))
	f("storage_quota", one(Config{Name: "a", StorageQuota: -1}))
	f("rate_limit", one(Config{Name: "a", RateLimit: RateLimit{Pull: -1}}))
	f("rate_limit", one(Config{Name: "a", RateLimit: RateLimit{Push: -1}}))
	f("rate_limit", one(Config{Name: "a", RateLimit: RateLimit{Bandwidth: -1}}))
	f("weight", one(Config{Name: "a", Weight: -2}))
	f("empty subject", one(Config{Name: "a", Subjects: []string{""}}))
	f("rate_limit", Options{AnonymousPerMinute: -1})

	// The default may set limits, a quota and subjects, and stays last.
	s := mustNew(t, Options{Tenants: []Config{
		{Name: Default, StorageQuota: 10, Subjects: []string{"guests"}, RateLimit: RateLimit{Pull: 5}},
		{Name: "a", Prefixes: []string{"a/**"}},
	}})
	var names []string
	for _, tn := range s.Tenants() {
		names = append(names, tn.Name())
	}
	if got := strings.Join(names, ","); got != "a,default" {
		t.Errorf("Tenants = %s, want a,default", got)
	}
	if d := s.Lookup(Default); d == nil || d.quota != 10 || d.pull == nil || d.Config().RateLimit.Pull != 5 {
		t.Errorf("the default tenant lost its settings: %+v", d)
	}
	if c := s.Lookup("a").Config(); c.Name != "a" || len(c.Prefixes) != 1 || c.Prefixes[0] != "a/**" {
		t.Errorf("Config = %+v", c)
	}
	if c := mustNew(t, Options{}).Lookup(Default).Config(); c.Name != Default || c.StorageQuota != 0 {
		t.Errorf("the unconfigured default's Config = %+v", c)
	}
}

func TestResolve(t *testing.T) {
	s := mustNew(t, Options{Tenants: []Config{
		{Name: "frontend", Prefixes: []string{"frontend/**", "npm:@frontend/*"}},
		{Name: "wide", Prefixes: []string{"**"}, Subjects: []string{"ops"}},
		{Name: "ci", Subjects: []string{"ci", "builders"}},
		{Name: "late", Subjects: []string{"builders", "late"}},
	}})
	// wide's "**" would take everything: a narrower config order test
	// uses another Set below.
	owner := func(format, name, want string) {
		t.Helper()
		if got := s.Owner(format, name).Name(); got != want {
			t.Errorf("Owner(%s, %s) = %s, want %s", format, name, got, want)
		}
	}
	owner("docker", "frontend/app", "frontend")
	owner("npm", "@frontend/ui", "frontend")
	owner("docker", "@frontend/ui", "wide") // the npm prefix is npm's only
	owner("docker", "library/alpine", "wide")

	s = mustNew(t, Options{Tenants: []Config{
		{Name: "frontend", Prefixes: []string{"frontend/**", "npm:@frontend/*"}},
		{Name: "ci", Subjects: []string{"ci", "builders"}},
		{Name: "late", Subjects: []string{"builders", "late"}},
		{Name: "also-frontend", Prefixes: []string{"frontend/app"}},
	}})
	of := func(id *auth.Identity, format, name, want string) {
		t.Helper()
		if got := s.Of(id, format, name).Name(); got != want {
			t.Errorf("Of(%v, %s, %s) = %s, want %s", id, format, name, got, want)
		}
	}
	who := func(subjects ...string) *auth.Identity { return &auth.Identity{Name: subjects[0], Subjects: subjects} }
	of(nil, "docker", "frontend/app", "frontend") // the first prefix wins
	of(who("ci"), "docker", "frontend/app", "frontend")
	of(nil, "npm", "@frontend/ui", "frontend")
	of(nil, "npm", "frontend/x", "frontend") // a bare glob holds in every format
	of(nil, "pypi", "@frontend/ui", Default)
	of(nil, "docker", "library/alpine", Default)
	of(who("alice", "developers"), "docker", "library/alpine", Default)
	of(who("bob", "ci"), "docker", "library/alpine", "ci")
	of(who("late", "builders"), "npm", "left-pad", "ci") // configuration order, not the identity's
	of(who("late"), "npm", "left-pad", "late")
	if got := s.Owner("docker", "library/alpine"); got != s.Lookup(Default) {
		t.Errorf("Owner of an unprefixed name = %v, want the default", got)
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	if s.Tenants() != nil || s.Lookup("a") != nil || s.Owner("docker", "a") != nil || s.Of(nil, "docker", "a") != nil {
		t.Error("a nil Set has tenants")
	}
	if tn, err := s.Admit(nil, netip.Addr{}, auth.Push, "docker", "a"); tn != nil || err != nil {
		t.Errorf("Admit = %v, %v", tn, err)
	}
	s.Changed("docker", "a")
	s.Recount()
	s.AddSource("docker", newMemSource())
	if u, err := s.Usage(t.Context(), nil); err != nil || u != (Usage{}) {
		t.Errorf("Usage = %v, %v", u, err)
	}
	if err := s.Reserve(t.Context(), "docker", "a", 0, 1<<40); err != nil {
		t.Error(err)
	}
	r := strings.NewReader("x")
	if s.Limit(t.Context(), "docker", "a", 0, r) != r {
		t.Error("Limit wraps the reader")
	}
	var tn *Tenant
	if tn.Throttle(t.Context(), r) != r {
		t.Error("Throttle wraps the reader")
	}
	if err := tn.TakeUpstreamPull("hub", 0, true); err != nil {
		t.Error(err)
	}
}
