package main

import (
	"fmt"
	"slices"
	"strings"

	"nora/auth"
)

// auth checks [auth.groups] and [[auth.rules]]: what auth.New would refuse,
// each under its own key, every problem at once.
func (p *problems) auth(c *fileConfig) {
	groups := make([]string, 0, len(c.Auth.Groups))
	for g := range c.Auth.Groups {
		groups = append(groups, g)
	}
	slices.Sort(groups) // the same messages in the same order every time
	for _, g := range groups {
		key := "auth.groups." + g
		for i, user := range c.Auth.Groups[g] {
			if strings.TrimSpace(user) == "" {
				p.bad(key, "member %d is an empty user name", i)
			}
		}
	}
	for i, r := range c.Auth.Rules {
		key := func(k string) string { return fmt.Sprintf("auth.rules[%d].%s", i, k) }
		if strings.TrimSpace(r.Subject) == "" {
			p.bad(key("subject"), "required (a user, a group, an API token's name or an OIDC rule's name)")
		}
		if len(r.Permissions) == 0 {
			p.bad(key("permissions"), `want at least one, such as "push:frontend/*"`)
		}
		for _, s := range r.Permissions {
			if _, err := auth.ParsePermission(s); err != nil {
				p.bad(key("permissions"), "%v", err)
			}
		}
	}
}

// authNotes are what nora config check says about a valid [auth] that may
// not do what its author expects.
func authNotes(c *fileConfig) []string {
	if c.Auth.Htpasswd != "" && len(c.Auth.Rules) == 0 {
		return []string{"no [[auth.rules]]: every user of auth.htpasswd may push, publish and delete everything"}
	}
	return nil
}
