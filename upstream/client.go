// Package upstream is nora's client for the public registries: the Docker
// Hub token dance, retries with backoff, rate-limit headers, a circuit
// breaker per upstream, and redirects that never leak credentials.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// maxErrorBody bounds every read of an error or token body.
const maxErrorBody = 64 << 10

// Client holds the one *http.Client every upstream shares; per-upstream
// state lives in the Registry values it makes.
type Client struct {
	cfg  Config
	log  *slog.Logger
	set  *metrics.Set
	http *http.Client
	now  func() time.Time // the clock of breakers, tokens and health
	via  *Via             // this nora's X-Nora-Via chain
	// guard keeps URLs from upstreams off non-public hosts not configured
	guard *dialGuard

	mu   sync.Mutex
	regs []*Registry // for Status
}

// NewClient builds the shared transport: proxies from the environment,
// HTTP/2, keep-alives. A nil log discards; a nil set gets a private one.
func NewClient(cfg Config, log *slog.Logger, set *metrics.Set) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	cfg.Retries = max(cfg.Retries, 0)
	guard := newDialGuard(&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second})
	tr := &http.Transport{
		Proxy:                 guard.proxy,
		DialContext:           guard.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		// Parallel layer pulls all go to one or two hosts.
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{
		cfg:   cfg,
		log:   log,
		set:   set,
		now:   time.Now,
		via:   NewVia(),
		guard: guard,
		http: &http.Client{
			Transport:     tr,
			CheckRedirect: checkRedirect,
		},
	}
}

// Via is this nora's place in a chain of noras: the server checks incoming
// requests against it, the client names it in every request it sends.
func (c *Client) Via() *Via { return c.via }

// checkRedirect follows blob redirects (CDN) but forwards Authorization only
// to the origin (scheme, host and port) of the first request. net/http's own
// rule ignores the port and trusts subdomains, which is too loose.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("cannot follow more than 10 redirects")
	}
	if !sameOrigin(req.URL, via[0].URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

// RegistryOptions describe one OCI upstream.
type RegistryOptions struct {
	// Name labels metrics and logs ("docker.io").
	Name string
	// URL is the base, without /v2/ ("http://127.0.0.1:5000").
	URL                string
	Username, Password string
	// Realm is the token endpoint the credentials may be sent to. Empty:
	// only a realm on the upstream's own origin gets them.
	Realm string
	// Discovered: URL came from an upstream's answer (cargo's dl), not
	// from the configuration, so its host is not trusted past the dial
	// guard. A configured URL's host (and realm's) is trusted, any port.
	Discovered bool
}

// Registry is one OCI upstream: its base URL, credentials, cached tokens,
// breaker and metrics.
type Registry struct {
	c       *Client
	log     *slog.Logger
	name    string
	base    *url.URL
	user    string
	pass    string
	realm   *url.URL // nil: the base's origin
	auth    authState
	breaker *breaker
	rate    rateLimit
	health  health
	m       *registryMetrics
	rt      http.RoundTripper // newTransport's stack
	now     func() time.Time  // the clock of token expiry and health
}

// Registry makes the client for one upstream.
func (c *Client) Registry(o RegistryOptions) (*Registry, error) {
	if o.Name == "" {
		return nil, errors.New("cannot create upstream: empty name")
	}
	base, err := parseHTTPURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot create upstream %s: %w", o.Name, err)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawQuery, base.Fragment = "", ""
	var realm *url.URL
	if o.Realm != "" {
		if realm, err = parseHTTPURL(o.Realm); err != nil {
			return nil, fmt.Errorf("cannot create upstream %s: realm: %w", o.Name, err)
		}
	}
	if !o.Discovered {
		c.guard.allow(o.URL, o.Realm)
	}
	log := c.log.With("upstream", o.Name)
	m := newRegistryMetrics(c.set, o.Name)
	r := &Registry{
		c:       c,
		log:     log,
		name:    o.Name,
		base:    base,
		user:    o.Username,
		pass:    o.Password,
		realm:   realm,
		auth:    authState{tokens: map[string]cachedToken{}},
		breaker: newBreaker(c.cfg.BreakerFailures, c.cfg.BreakerCooldown, log, m.breakerOpen, c.now),
		rate:    rateLimit{set: c.set, name: o.Name},
		m:       m,
		now:     c.now,
	}
	r.health.up = m.up
	r.rt = r.newTransport()
	c.remember(r)
	return r, nil
}

// Name is the upstream's label ("docker.io").
func (r *Registry) Name() string { return r.name }

func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("cannot parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cannot use URL %q: want http(s)://host", s)
	}
	if u.User != nil {
		return nil, errors.New("cannot use URL with user info: set username and password instead")
	}
	return u, nil
}

// sameOrigin compares scheme, host and port (default ports made explicit).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
