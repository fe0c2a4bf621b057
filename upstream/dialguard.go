package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrPrivateAddress is a dial refused by the guard: the host was not in
// the configuration and is, or resolves to, an address that is not public.
var ErrPrivateAddress = errors.New("refusing to connect to a non-public address that is not configured")

// dialGuard keeps URLs that nora did not get from its configuration (token
// realms, redirects, packument tarball links, PyPI file links, cargo's dl)
// from reaching loopback, link-local, private, shared, unspecified or
// multicast addresses. A host (name or IP literal, any port) that a
// configured upstream or realm names is trusted as configured; any other
// host is resolved here and dialled only at an address that was checked
// (public, or a configured IP literal), so a name that resolves
// differently on the second lookup (DNS rebinding) gains nothing.
type dialGuard struct {
	dialer   *net.Dialer
	resolver *net.Resolver
	// fromEnv is http.ProxyFromEnvironment (tests put a proxy here)
	fromEnv func(*http.Request) (*url.URL, error)

	mu      sync.Mutex                      // serialises writers of allowed
	allowed atomic.Pointer[map[string]bool] // copy on write: dials read it without a lock
}

func newDialGuard(d *net.Dialer) *dialGuard {
	g := &dialGuard{dialer: d, resolver: net.DefaultResolver, fromEnv: http.ProxyFromEnvironment}
	g.allowed.Store(&map[string]bool{})
	return g
}

// allow trusts the host of each configured URL (or bare host).
func (g *dialGuard) allow(rawURLs ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := map[string]bool{}
	for h := range *g.allowed.Load() {
		next[h] = true
	}
	for _, s := range rawURLs {
		host := s
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			host = u.Hostname()
		}
		if host != "" {
			next[normalHost(host)] = true
		}
	}
	g.allowed.Store(&next)
}

// trusted says whether host came from the configuration.
func (g *dialGuard) trusted(host string) bool {
	return (*g.allowed.Load())[normalHost(host)]
}

// normalHost is the form hosts are compared in: lower case, no final dots,
// IP literals in their canonical text (so "::1" and "0:0::1" agree).
func normalHost(h string) string {
	h = strings.TrimRight(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// DialContext is the transport's dialer: configured hosts as asked, any
// other host only at its checked public addresses.
func (g *dialGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("cannot dial %q: %w", addr, err)
	}
	if g.trusted(host) {
		return g.dialer.DialContext(ctx, network, addr)
	}
	ips, err := g.publicAddrs(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// publicAddrs resolves host (an IP literal stands for itself) and keeps
// the addresses nora may dial: public ones and those configured as IP
// literals (so "localhost" reaches a configured 127.0.0.1). None left is
// a refusal.
func (g *dialGuard) publicAddrs(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		family := "ip"
		switch network {
		case "tcp4":
			family = "ip4"
		case "tcp6":
			family = "ip6"
		}
		if ips, err = g.resolver.LookupNetIP(ctx, family, host); err != nil {
			return nil, fmt.Errorf("cannot resolve %s: %w", host, err)
		}
	}
	ok := ips[:0:0]
	for _, ip := range ips {
		if ip = ip.Unmap(); publicAddr(ip) || g.trusted(ip.String()) {
			ok = append(ok, ip)
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("cannot connect to %s: %w", host, ErrPrivateAddress)
	}
	return ok, nil
}

// nonPublic are the ranges netip's predicates do not name: "this network",
// shared address space (carrier-grade NAT), benchmarking, reserved and
// broadcast, and the IPv6 prefixes (IPv4-compatible, that embed an IPv4 address
// NAT64, 6to4), which could reach a private IPv4 host through a gateway.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("fec0::/10"),
}

// publicAddr says whether ip is an address on the public internet.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// proxy is http.ProxyFromEnvironment with the guard applied to the target:
// through a proxy nora dials only the proxy (a configured host), so the
// target is checked here, its name resolved, before the proxy is asked.
func (g *dialGuard) proxy(req *http.Request) (*url.URL, error) {
	p, err := g.fromEnv(req)
	if err != nil || p == nil {
		return p, err
	}
	g.allowOnce(p.Hostname())
	if host := req.URL.Hostname(); !g.trusted(host) {
		if _, err := g.publicAddrs(req.Context(), "tcp", host); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// allowOnce trusts the proxy's host: it comes from the environment, which
// is configuration.
func (g *dialGuard) allowOnce(host string) {
	if !g.trusted(host) {
		g.allow(host)
	}
}
