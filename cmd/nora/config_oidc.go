package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gobwas/glob"

	"nora/auth"
)

// oidc checks [[auth.oidc.providers]]: what oidc.New would refuse, and
// what would make a provider refuse every token, each under its own key.
func (p *problems) oidc(c *fileConfig) {
	seen := map[string]bool{}
	for i, pr := range c.Auth.OIDC.Providers {
		key := func(k string) string { return fmt.Sprintf("auth.oidc.providers[%d].%s", i, k) }
		switch {
		case strings.TrimSpace(pr.Name) == "":
			p.bad(key("name"), "required (it names the provider in the audit log and [[auth.rules]])")
		case seen[pr.Name]:
			p.bad(key("name"), "provider %q is configured twice", pr.Name)
		}
		seen[pr.Name] = true
		if err := checkIssuer(pr.Issuer); err != nil {
			p.bad(key("issuer"), "%v", err)
		}
		if strings.TrimSpace(pr.Audience) == "" {
			p.bad(key("audience"), "required (the aud the ID tokens are requested for)")
		}
		if len(pr.Rules) == 0 {
			p.bad(key("rules"), "want at least one rule: without, every token is refused")
		}
		for j, r := range pr.Rules {
			p.oidcRule(fmt.Sprintf("auth.oidc.providers[%d].rules[%d].", i, j), r)
		}
	}
}

func (p *problems) oidcRule(prefix string, r auth.ProviderRule) {
	if len(r.Match) == 0 {
		p.bad(prefix+"match", `want at least one claim, such as { repository = "my-org/*" }: an empty match takes every token`)
	}
	claims := make([]string, 0, len(r.Match))
	for claim := range r.Match {
		claims = append(claims, claim)
	}
	slices.Sort(claims) // the same messages in the same order every time
	for _, claim := range claims {
		if _, err := glob.Compile(r.Match[claim], '/'); err != nil {
			p.bad(prefix+"match."+claim, "invalid glob %q: %v", r.Match[claim], err)
		}
	}
	if len(r.Permissions) == 0 {
		p.bad(prefix+"permissions", `want at least one, such as "push:frontend/*"`)
	}
	for _, s := range r.Permissions {
		if _, err := auth.ParsePermission(s); err != nil {
			p.bad(prefix+"permissions", "%v", err)
		}
	}
}

// checkIssuer wants an https URL, or http on loopback (a test issuer):
// the issuer's keys decide who may push, and must not travel in clear.
func checkIssuer(s string) error {
	if s == "" {
		return fmt.Errorf("required (the issuer URL, as the tokens' iss claim says it)")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an issuer URL (https://host[/path])", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%q: want https (http only on loopback)", s)
}
