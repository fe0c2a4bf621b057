package main

import (
	"fmt"

	"nora/proxy/admin"
)

// prefetch checks [[prefetch]]: a list (file or items) that parses, a
// schedule that fires, a valid platform.
func (p *problems) prefetch(c *fileConfig) {
	for i, e := range c.Prefetch {
		key := fmt.Sprintf("prefetch[%d]", i)
		if err := e.Validate(); err != nil {
			p.bad(key, "%v", err)
			continue
		}
		if err := admin.ValidateSchedule(e.Schedule); err != nil {
			p.bad(key+".schedule", "%v", err)
		}
		if e.File != "" {
			if _, err := e.List(); err != nil {
				p.bad(key+".file", "%v", err)
			}
		}
	}
}
