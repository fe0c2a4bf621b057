package main

import (
	"fmt"

	"nora/proxy/webhook"
)

// webhooks checks [[webhooks]]: each entry's keys, and that no two
// entries share a name (it keys their queues).
func (p *problems) webhooks(c *fileConfig) {
	seen := map[string]int{}
	for i, w := range c.Webhooks {
		for _, e := range w.Check() {
			p.bad(fmt.Sprintf("webhooks[%d].%s", i, e.Key), "%s", e.Msg)
		}
		name := webhook.NameOf(i, w)
		if j, dup := seen[name]; dup {
			p.bad(fmt.Sprintf("webhooks[%d].name", i), "%q is already the name of webhooks[%d]", name, j)
			continue
		}
		seen[name] = i
	}
}
