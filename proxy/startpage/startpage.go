// Package startpage serves nora's start page at "/": what the box is, its
// health, and the client set-up for the name it was reached by, with the
// steps that make clients trust its site CA. It is rendered on the server
// (html/template escapes every value) and needs no JavaScript.
package startpage

import (
	"bytes"
	_ "embed"
	"html/template"
	"net"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
	"nora/proxy/pull"
)

//go:embed page.html
var pageText string

var page = template.Must(template.New("page").Parse(pageText))

// Placeholder stands for the box's name when the request named none that
// could go into a command (an HTTP/1.0 request without Host).
const Placeholder = "NORA-HOST"

// Health is the start page's view of /ready.
type Health struct {
	Ready   bool
	Status  string   // "ready", "unavailable", "shutting down"
	Failing []string // names of the failing checks
}

// Config is what the page shows and how it names the box.
type Config struct {
	Version string
	// PublicURL is server.public_url; "" names the box by the request's
	// Host.
	PublicURL string
	// TLSMode is [server.tls] mode: "off", "auto" or "files" ("" is off).
	TLSMode string
	// Listen is [server] listen (TLS unless TLSMode is off), ListenPlain
	// [server] listen_plain ("": none); their ports go into the URLs.
	Listen, ListenPlain string
	// CA reports whether GET /ca.crt has a CA to give; nil: none.
	CA func() bool
	// Ready is the server's readiness, as /ready answers it.
	Ready func() Health
	// Formats are the enabled formats: "docker", "npm", "pypi", "maven",
	// "cargo".
	Formats []string
}

// Handler serves the start page.
type Handler struct{ cfg Config }

// New returns the start page handler for cfg.
func New(cfg Config) *Handler { return &Handler{cfg: cfg} }

// view is what the template renders.
type view struct {
	Version string
	Health  Health
	Formats map[string]bool
	Names   []string // every format, in order, for the health table
	Base    string   // scheme://host[:port] clients use
	Host    string   // host[:port] of Base: the registry name for docker
	TLS     bool     // Base is https
	Auto    bool     // CA steps are shown
	Files   bool     // the site's own certificate
	CAURL   string
	CAFetch string // curl flags to fetch the CA ("-fsSL" or "-fsSLk")
	Valid   bool   // the name came from a valid Host or public_url
}

var allFormats = []string{"docker", "npm", "pypi", "maven", "cargo"}

// Serve implements GET and HEAD /. Any other path under "/" is not found,
// as it was before the page existed.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/" {
		ctx.Error("404 page not found\n", fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("405 method not allowed\n", fasthttp.StatusMethodNotAllowed)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD") // after Error, which resets headers
		return
	}
	var b bytes.Buffer
	if err := page.Execute(&b, h.view(ctx)); err != nil {
		ctx.Error("cannot render the start page\n", fasthttp.StatusInternalServerError)
		return
	}
	hdr := &ctx.Response.Header
	hdr.SetContentType("text/html; charset=utf-8")
	// Health changes; the page must not be kept.
	hdr.Set(fasthttp.HeaderCacheControl, "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if ctx.IsHead() {
		hdr.SetContentLength(b.Len())
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b.Bytes())
}

func (h *Handler) view(ctx *fasthttp.RequestCtx) view {
	v := view{Version: h.cfg.Version, Names: allFormats, Formats: map[string]bool{}}
	if v.Version == "" {
		v.Version = "unknown"
	}
	if h.cfg.Ready != nil {
		v.Health = h.cfg.Ready()
	}
	for _, f := range h.cfg.Formats {
		v.Formats[f] = true
	}
	tlsOn := h.cfg.TLSMode != "" && h.cfg.TLSMode != "off"
	v.Files = h.cfg.TLSMode == "files"
	// The name clients use: public_url's, else the request's Host as it
	// came (checked here too: it goes into commands).
	scheme, host, _ := strings.Cut(pull.BaseURL(ctx, h.cfg.PublicURL), "://")
	if h.cfg.PublicURL != "" {
		if u, err := url.Parse(h.cfg.PublicURL); err == nil {
			host = u.Host
		}
	}
	v.Valid = httpx.ValidHost([]byte(host))
	name, reqPort := Placeholder, ""
	if v.Valid {
		name, reqPort = splitHost(host)
	}
	switch {
	case h.cfg.PublicURL != "" && v.Valid:
		v.Base = strings.TrimSuffix(h.cfg.PublicURL, "/") // the operator's word, path included
	case !tlsOn || scheme == "https":
		// A box without TLS, or a request that came over TLS already:
		// clients use what this request used.
		v.Base = scheme + "://" + joinHost(name, reqPort, scheme)
	default: // TLS is on but this request is plain: point at the TLS port
		v.Base = "https://" + joinHost(name, port(h.cfg.Listen), "https")
	}
	v.TLS = strings.HasPrefix(v.Base, "https://")
	v.Host = joinHost(name, reqPort, scheme)
	if u, err := url.Parse(v.Base); err == nil && v.Valid {
		v.Host = u.Host
	}
	if h.cfg.TLSMode == "auto" && h.cfg.CA != nil && h.cfg.CA() {
		v.Auto = true
		v.CAFetch = "-fsSL"
		switch {
		case scheme == "http" && h.cfg.PublicURL == "":
			v.CAURL = "http://" + joinHost(name, reqPort, "http") + "/ca.crt"
		case h.cfg.ListenPlain != "":
			v.CAURL = "http://" + joinHost(name, port(h.cfg.ListenPlain), "http") + "/ca.crt"
		default: // only the TLS listener: the first fetch cannot verify
			v.CAURL, v.CAFetch = v.Base+"/ca.crt", "-fsSLk"
		}
	}
	return v
}

// splitHost splits host[:port]; a bracketed IPv6 keeps its brackets.
func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		return h, p
	}
	return hostport, ""
}

// joinHost writes host[:port], leaving out the scheme's default port.
func joinHost(host, port, scheme string) string {
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return host
	}
	return host + ":" + port
}

// port is the port of a listen address ("0.0.0.0:443", ":443").
func port(listen string) string {
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	return p
}
