package main

import (
	"path/filepath"

	"nora/auth"
)

// audit checks [server] trusted_proxies and [audit].
func (p *problems) audit(c *fileConfig) {
	if _, err := c.Server.Proxies(); err != nil {
		p.bad("server.trusted_proxies", "%v", err)
	}
}

// auditStartable checks that the audit log can be written where it goes.
func (p *problems) auditStartable(c *fileConfig) {
	if path := c.Audit.Path; path != "" && path != auth.AuditStdout {
		if err := writableDir(filepath.Dir(path)); err != nil {
			p.bad("audit.path", "%v", err)
		}
	}
}
