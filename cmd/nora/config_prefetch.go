package main

import (
	"fmt"
	"strings"

	"nora/proxy/admin"
)

// prefetch checks [[prefetch]]: a list (file or items) that parses, a
// schedule that fires, a valid platform.
func (p *problems) prefetch(c *fileConfig) {
	for i, e := range c.Prefetch {
		key := fmt.Sprintf("prefetch[%d]", i)
		for _, fe := range e.Check() {
			p.bad(key+"."+fe.Key, "%s", fe.Msg)
		}
		if strings.TrimSpace(e.Schedule) == "" {
			continue
		}
		if err := admin.ValidateSchedule(e.Schedule); err != nil {
			p.bad(key+".schedule", "%v", err)
		}
	}
}
