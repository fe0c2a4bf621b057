package proxy

import (
	"time"

	"nora/internal/units"
	"nora/proxy/httpx"
	"nora/proxy/sitetls"
)

// Config is the [server] section.
type Config struct {
	// Listen is TLS when TLS.Mode is not off. ListenPlain ("": none) is a
	// plain HTTP listener beside it: /ca.crt, /health and the site pages,
	// and the package routes redirected to HTTPS or served, per Plain.
	Listen      string         `toml:"listen"`
	ListenPlain string         `toml:"listen_plain"`
	Plain       string         `toml:"plain"`
	TLS         sitetls.Config `toml:"tls"`
	PublicURL   string         `toml:"public_url"`
	// ReadTimeout bounds reading one request's headers; IdleTimeout a
	// keep-alive connection between requests; StallTimeout a response write
	// that moves no byte (never a whole response: slow links are normal).
	ReadTimeout    units.Duration `toml:"read_timeout"`
	IdleTimeout    units.Duration `toml:"idle_timeout"`
	StallTimeout   units.Duration `toml:"stall_timeout"`
	MaxHeaderBytes units.Size     `toml:"max_header_bytes"`
	// MaxConns caps concurrent connections. Requests with a body may hold
	// all but an eighth of them (at least 1, at most 64), which stay free
	// for /health, /ready and pulls.
	MaxConns int `toml:"max_conns"`
	// MaxConnsPerIP caps the connections of one peer address (0: no cap):
	// more are answered 429 and closed at once, so that one client holding
	// connections open cannot take all of MaxConns. Behind a reverse proxy
	// every client has the proxy's address.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// BodyMinRate is the average a request body must keep up, in bytes per
	// second of waiting for the client, once BodyGrace has passed; 0: no
	// minimum. Slow links pass; a client trickling a byte at a time does
	// not hold its connection for ever.
	BodyMinRate units.Size     `toml:"body_min_rate"`
	BodyGrace   units.Duration `toml:"body_grace"`
	// BufferedBodyTimeout bounds reading a body a handler keeps in memory
	// (npm audit, a manifest, a small PUT), and draining a refused one; 0:
	// no bound beyond the rate and stall rules. MaxBufferedBodies caps how
	// many such bodies are read at once; more get 503 with Retry-After.
	BufferedBodyTimeout units.Duration `toml:"buffered_body_timeout"`
	MaxBufferedBodies   int            `toml:"max_buffered_bodies"`
	// AdminSocket is the admin API's unix socket; "" means admin.sock in
	// the [storage] path (admin.SocketPath).
	AdminSocket string `toml:"admin_socket"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For names the client; from any other peer the header is
	// ignored. The client address is what login limits and the audit log
	// go by. A pointer keeps Config comparable; nil trusts no proxy.
	TrustedProxies *[]string `toml:"trusted_proxies"`
	// RateLimit caps the anonymous pulls of one client address, per
	// minute (0: no cap); a logged-in caller counts against its tenant.
	RateLimit int `toml:"rate_limit"`
}

// Proxies returns TrustedProxies parsed.
func (c Config) Proxies() (httpx.Proxies, error) {
	if c.TrustedProxies == nil {
		return nil, nil
	}
	return httpx.ParseProxies(*c.TrustedProxies)
}

// DefaultConfig returns the [server] defaults.
func DefaultConfig() Config {
	return Config{
		Listen:         "0.0.0.0:4000",
		Plain:          PlainRedirect,
		TLS:            sitetls.DefaultConfig(),
		ReadTimeout:    units.Duration(30 * time.Second),
		IdleTimeout:    units.Duration(120 * time.Second),
		StallTimeout:   units.Duration(60 * time.Second),
		MaxHeaderBytes: 16 << 10,
		MaxConns:       4096,
		// 4 KiB/s is far below any real link (a 2 GB layer at that pace
		// would take six days), far above a byte every few seconds.
		BodyMinRate:         4 << 10,
		BodyGrace:           units.Duration(30 * time.Second),
		BufferedBodyTimeout: units.Duration(30 * time.Second),
		MaxBufferedBodies:   8,
	}
}

// What the plain listener does with registry and package traffic.
const (
	PlainRedirect = "redirect" // 308 to the same path over HTTPS
	PlainServe    = "serve"
)
