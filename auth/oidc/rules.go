package oidc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gobwas/glob"

	"nora/auth"
)

// rule is a compiled [[auth.oidc.providers.rules]] entry.
type rule struct {
	name  string // the subject [[auth.rules]] name; the provider's when unset
	match []claimGlob
	perms []string // as written, checked to parse
}

type claimGlob struct {
	claim string
	g     *glob.Pattern
}

func compileRules(p auth.Provider) ([]rule, error) {
	rules := make([]rule, 0, len(p.Rules))
	for i, r := range p.Rules {
		if len(r.Match) == 0 {
			return nil, fmt.Errorf("provider %q rule %d: match is empty (it would match every token)", p.Name, i+1)
		}
		if _, err := auth.ParsePermissions(r.Permissions); err != nil {
			return nil, fmt.Errorf("provider %q rule %d: %w", p.Name, i+1, err)
		}
		c := rule{name: r.Name, perms: r.Permissions}
		if c.name == "" {
			c.name = p.Name
		}
		for _, claim := range sortedKeys(r.Match) {
			g, err := glob.Compile(r.Match[claim], '/')
			if err != nil {
				return nil, fmt.Errorf("provider %q rule %d: claim %s: invalid glob %q: %v", p.Name, i+1, claim, r.Match[claim], err)
			}
			c.match = append(c.match, claimGlob{claim: claim, g: g})
		}
		rules = append(rules, c)
	}
	return rules, nil
}

// matches reports whether every claim the rule names is a string that
// matches its glob.
func (r rule) matches(claims map[string]any) bool {
	for _, m := range r.match {
		s, ok := claims[m.claim].(string)
		if !ok || !m.g.Match(s) {
			return false
		}
	}
	return true
}

// grant is what the rules matching a token's claims give it.
type grant struct {
	subjects []string
	perms    []string
	// matched are the claims the matching rules looked at, for the actor.
	matched map[string]string
}

func applyRules(rules []rule, claims map[string]any) (grant, bool) {
	g := grant{matched: map[string]string{}}
	for _, r := range rules {
		if !r.matches(claims) {
			continue
		}
		if !slices.Contains(g.subjects, r.name) {
			g.subjects = append(g.subjects, r.name)
		}
		for _, p := range r.perms {
			if !slices.Contains(g.perms, p) {
				g.perms = append(g.perms, p)
			}
		}
		for _, m := range r.match {
			g.matched[m.claim] = claims[m.claim].(string)
		}
	}
	return g, len(g.subjects) > 0
}

// actor names an exchanged token in the audit log: the provider and the
// claims that matched, "oidc github repository=org/app ref=refs/heads/main".
func actor(provider string, matched map[string]string) string {
	var b strings.Builder
	b.WriteString("oidc ")
	b.WriteString(provider)
	for _, k := range sortedKeys(matched) {
		v := matched[k]
		if strings.ContainsAny(v, " \t\r\n\"=") || !strconv.CanBackquote(v) {
			v = strconv.Quote(v) // one audit field stays one field
		}
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
