package main

import (
	"net"
	"strconv"

	"nora/proxy"
)

// tls checks [server.tls] and the plain listener beside it.
func (p *problems) tls(c *fileConfig) {
	t := c.Server.TLS
	if key, err := t.Check(); err != nil {
		p.bad("server.tls."+key, "%v", err)
	}
	switch c.Server.Plain {
	case proxy.PlainRedirect, proxy.PlainServe:
	default:
		p.bad("server.plain", "want %q or %q, got %q", proxy.PlainRedirect, proxy.PlainServe, c.Server.Plain)
	}
	if c.Server.ListenPlain == "" {
		return
	}
	if !t.On() {
		p.bad("server.listen_plain", "needs server.tls.mode \"auto\" or \"files\" (with TLS off, listen is plain already)")
	}
	if _, port, err := net.SplitHostPort(c.Server.ListenPlain); err != nil {
		p.bad("server.listen_plain", "want host:port such as \"0.0.0.0:80\", got %q", c.Server.ListenPlain)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.bad("server.listen_plain", "want a port number from 0 to 65535, got %q", port)
	}
}
