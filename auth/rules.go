package auth

import (
	"fmt"
	"slices"
)

// ruleSet is [[auth.rules]] and [auth.groups] compiled once per load: what
// each subject may do, and which subjects each user stands for.
type ruleSet struct {
	// gen is the load of the user file and rules this set belongs to: the
	// decision cache keys on it, so a decision of an older load never
	// answers for a newer one.
	gen uint64
	// any is false without [[auth.rules]]: then any current htpasswd user
	// may do anything, as before rules existed.
	any bool
	// grants holds the permissions of each subject the rules name.
	grants map[string][]Permission
	// subjects holds, for each user some group lists, the user and its
	// groups; a user no group lists stands for itself alone.
	subjects map[string][]string
}

// compileRules parses the permissions of cfg's rules and indexes its
// groups by member.
func compileRules(cfg Config) (*ruleSet, error) {
	r := &ruleSet{any: len(cfg.Rules) > 0, grants: map[string][]Permission{}, subjects: map[string][]string{}}
	for i, rule := range cfg.Rules {
		if rule.Subject == "" {
			return nil, fmt.Errorf("auth.rules[%d]: subject is required", i)
		}
		ps, err := ParsePermissions(rule.Permissions)
		if err != nil {
			return nil, fmt.Errorf("auth.rules[%d]: %w", i, err)
		}
		r.grants[rule.Subject] = append(r.grants[rule.Subject], ps...)
	}
	// Sorted, so that a user's subjects come out the same on every load.
	groups := make([]string, 0, len(cfg.Groups))
	for g := range cfg.Groups {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		for _, user := range cfg.Groups[g] {
			if user == "" {
				return nil, fmt.Errorf("auth.groups.%s: empty user name", g)
			}
			s := r.subjects[user]
			if s == nil {
				s = []string{user}
			}
			if !slices.Contains(s, g) {
				r.subjects[user] = append(s, g)
			}
		}
	}
	return r, nil
}

// subjectsOf returns user and the groups that list it.
func (r *ruleSet) subjectsOf(user string) []string {
	if s, ok := r.subjects[user]; ok {
		return s
	}
	return []string{user}
}

// names reports whether some rule names one of subjects.
func (r *ruleSet) names(subjects []string) bool {
	for _, s := range subjects {
		if _, ok := r.grants[s]; ok {
			return true
		}
	}
	return false
}

// allows reports whether a rule of one of subjects grants action on name.
func (r *ruleSet) allows(subjects []string, action Action, format, name string) bool {
	for _, s := range subjects {
		if Permits(r.grants[s], action, format, name) {
			return true
		}
	}
	return false
}

// decide is the decision for a live identity, before any cache:
//   - a user: without rules, anything; with rules, what a rule of the user
//     or one of its groups (as loaded now) grants;
//   - a token (API or OIDC): what a rule naming one of its subjects grants,
//     or, when no rule names any, what its Limit alone says;
//
// and in every case no more than the identity's Limit.
func (r *ruleSet) decide(id *Identity, action Action, format, name string) bool {
	if id.Limit != nil && !Permits(id.Limit, action, format, name) {
		return false
	}
	if id.Kind == User {
		return !r.any || r.allows(r.subjectsOf(id.Name), action, format, name)
	}
	if !r.names(id.Subjects) {
		return id.Limit != nil
	}
	return r.allows(id.Subjects, action, format, name)
}
