package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/valyala/fasthttp"
)

// caPath serves the site CA certificate (auto mode).
const caPath = "/ca.crt"

// formatSite labels the site's own pages (/ca.crt, the start page): the
// plain listener serves them, never redirects them.
const formatSite = "site"

// siteTLS is what the Server does about TLS: publish the site CA and send
// plain-listener package traffic to the TLS listener.
type siteTLS struct {
	metrics *formatMetrics
	caPEM   []byte
	// tlsPort is the TLS listener's port when the plain listener
	// redirects; "" serves everything on both.
	tlsPort string
}

// SetSiteTLS publishes caPEM at /ca.crt (nil: 404 saying why) and, when
// tlsPort is not "", redirects the plain listener's package and registry
// requests to that port over HTTPS. Call it before Serve.
func (s *Server) SetSiteTLS(caPEM []byte, tlsPort string) {
	s.site.caPEM, s.site.tlsPort = caPEM, tlsPort
}

func (t *siteTLS) serveCA(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD")
		ctx.Error("405 method not allowed\n", fasthttp.StatusMethodNotAllowed)
		return
	}
	if t.caPEM == nil {
		ctx.Error("404 no site CA: nora publishes one only with [server.tls] mode = \"auto\"\n", fasthttp.StatusNotFound)
		return
	}
	ctx.SetContentType("application/x-pem-file")
	ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, `attachment; filename="ca.crt"`)
	ctx.SetBody(t.caPEM)
}

// redirects reports whether a request of format, on this connection, goes
// to the TLS listener instead: registry and package routes on the plain
// listener when it redirects. Ops, the site's pages and unknown paths stay.
func (t *siteTLS) redirects(ctx *fasthttp.RequestCtx, format string) bool {
	return t.tlsPort != "" && !ctx.IsTLS() && format != formatOps && format != formatSite && format != formatNone
}

// redirect answers 308 (method and body kept) with the same path and query
// on the TLS listener of the host the client asked for.
func (t *siteTLS) redirect(ctx *fasthttp.RequestCtx) {
	host := string(ctx.Host())
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if len(host) > 0 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		host = "localhost"
	}
	if t.tlsPort != "443" {
		host = net.JoinHostPort(host, t.tlsPort)
	} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
		host = "[" + host + "]"
	}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, "https://"+host+string(ctx.RequestURI()))
	ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("308 this registry is served over HTTPS on port " + t.tlsPort + "\n")
}

// wrongProtocol names, for the log, a request that failed because the
// client spoke the other protocol: plain HTTP to the TLS listener (answered
// 400 in tlsConn.Read), or a TLS handshake to a plain one.
func wrongProtocol(ctx *fasthttp.RequestCtx, err error) error {
	var rh tls.RecordHeaderError
	switch sc := connStall(ctx.Conn()); {
	case ctx.IsTLS() && errors.As(err, &rh):
		return fmt.Errorf("not TLS on the TLS listener (a plain http:// client?): %w", err)
	case sc != nil && !ctx.IsTLS() && sc.tlsHello():
		return fmt.Errorf("a TLS handshake on a plain HTTP listener (the client wants https:// on the TLS listener): %w", err)
	}
	return err
}
