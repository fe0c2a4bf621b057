package main

import (
	"fmt"

	"nora/auth/tenant"
)

// tenants checks [[tenants]] and [server] rate_limit: what a key alone
// shows here, naming it; then what tenant.New refuses (globs, and whatever
// else it checks), so that config check says "ok" only when serve starts.
func (p *problems) tenants(c *fileConfig) {
	if c.Server.RateLimit < 0 {
		p.bad("server.rate_limit", "must not be negative (0: no limit)")
	}
	before := len(*p)
	seen := map[string]int{}
	for i, t := range c.Tenants {
		key := func(k string) string { return fmt.Sprintf("tenants[%d].%s", i, k) }
		switch j, dup := seen[t.Name]; {
		case t.Name == "":
			p.bad(key("name"), "required (what metrics, nora tenants ls and the refusals call the tenant)")
		case dup:
			p.bad(key("name"), "%q is already the name of tenants[%d]", t.Name, j)
		default:
			seen[t.Name] = i
		}
		if t.RateLimit.Pull < 0 {
			p.bad(key("rate_limit.pull"), "must not be negative (requests per hour; 0: no limit)")
		}
		if t.RateLimit.Push < 0 {
			p.bad(key("rate_limit.push"), "must not be negative (requests per hour; 0: no limit)")
		}
		if t.Weight < 0 {
			p.bad(key("weight"), "must not be negative (0 counts as 1)")
		}
	}
	if len(*p) == before && len(c.Tenants) > 0 {
		p.tenantSet(c.Tenants)
	}
}

// tenantSet reports what tenant.New refuses in ts under the key of the
// entry, and of its name, prefixes or subjects, that it refuses alone.
func (p *problems) tenantSet(ts []tenant.Config) {
	refused := func(ts ...tenant.Config) error {
		_, err := tenant.New(tenant.Options{Tenants: ts})
		return err
	}
	all := refused(ts...)
	if all == nil {
		return
	}
	found := false
	for i, t := range ts {
		err := refused(t)
		if err == nil {
			continue
		}
		found = true
		key := fmt.Sprintf("tenants[%d]", i)
		switch {
		case refused(tenant.Config{Name: t.Name}) != nil:
			key += ".name"
		case refused(tenant.Config{Name: t.Name, Prefixes: t.Prefixes}) != nil:
			key += ".prefixes"
		case refused(tenant.Config{Name: t.Name, Subjects: t.Subjects}) != nil:
			key += ".subjects"
		}
		p.bad(key, "%v", err)
	}
	if !found {
		p.bad("tenants", "%v", all)
	}
}
