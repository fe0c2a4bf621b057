package httpx

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Proxies are the reverse proxies whose X-Forwarded-For is believed
// ([server] trusted_proxies).
type Proxies []netip.Prefix

// ParseProxies parses CIDRs ("10.0.0.0/8") and single addresses.
func ParseProxies(list []string) (Proxies, error) {
	var ps Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			ps = append(ps, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("want a CIDR such as 10.0.0.0/8 or an address, got %q", s)
		}
		ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return ps, nil
}

func (ps Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

const headerForwardedFor = "X-Forwarded-For"

// Client is the address of the client of ctx: the peer, or, when the peer
// is a trusted proxy, the rightmost X-Forwarded-For hop that is not one
// (the hops left of it were written by whoever the client is, and prove
// nothing). A hop that does not parse ends the walk at the trusted hop
// right of it.
func (ps Proxies) Client(ctx *fasthttp.RequestCtx) netip.Addr {
	peer := peerAddr(ctx)
	if len(ps) == 0 || !peer.IsValid() || !ps.trusted(peer) {
		return peer
	}
	// Several headers are one list, in order.
	var hops [][]byte
	for _, h := range ctx.Request.Header.PeekAll(headerForwardedFor) {
		hops = append(hops, bytes.Split(h, []byte(","))...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(string(bytes.TrimSpace(hops[i])))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !ps.trusted(client) {
			break
		}
	}
	return client
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// clientKey is the user value holding the client address the server
// worked out (SetClientAddr).
type clientKey struct{}

// SetClientAddr records the request's client address; the server calls it
// first, with Proxies.Client.
func SetClientAddr(ctx *fasthttp.RequestCtx, a netip.Addr) {
	ctx.SetUserValue(clientKey{}, a)
}

// ClientAddr is who the client of ctx is, as the server worked it out from
// the peer and [server] trusted_proxies: the one answer the login limits,
// the audit log and the access log use. Without a server (handler tests)
// it is the peer.
func ClientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.UserValue(clientKey{}).(netip.Addr); ok {
		return a
	}
	return peerAddr(ctx)
}
