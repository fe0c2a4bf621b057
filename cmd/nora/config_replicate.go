package main

import (
	"fmt"

	"nora/proxy/admin"
)

// replication checks [replication]: remotes with a name, a URL and a
// readable token; schedules that name a remote (or a docker upstream, for
// from) and fire.
func (p *problems) replication(c *fileConfig) {
	var upstreams []string
	for _, u := range c.Docker.Upstreams {
		upstreams = append(upstreams, u.Name)
	}
	for _, fe := range c.Replication.Check(upstreams) {
		p.bad("replication."+fe.Key, "%s", fe.Msg)
	}
	for i, s := range c.Replication.Schedules {
		if s.Schedule == "" {
			continue
		}
		if err := admin.ValidateSchedule(s.Schedule); err != nil {
			p.bad(fmt.Sprintf("replication.schedules[%d].schedule", i), "%v", err)
		}
	}
}
