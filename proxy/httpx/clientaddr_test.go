package httpx

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// requestFrom is a request from peer (an IP) with the given
// X-Forwarded-For headers.
func requestFrom(peer string, xff ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	for _, v := range xff {
		req.Header.Add(headerForwardedFor, v)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(peer), Port: 40000}, nil)
	return ctx
}

func TestProxiesClient(t *testing.T) {
	f := func(trusted, peer string, xff []string, want string) {
		t.Helper()
		var list []string
		if trusted != "" {
			list = strings.Split(trusted, " ")
		}
		ps, err := ParseProxies(list)
		if err != nil {
			t.Fatal(err)
		}
		if got := ps.Client(requestFrom(peer, xff...)); got != netip.MustParseAddr(want) {
			t.Errorf("trusted %q, peer %s, X-Forwarded-For %q: client %s, want %s", trusted, peer, xff, got, want)
		}
	}
	xff := func(vs ...string) []string { return vs }
	// No trusted proxies, or an untrusted peer: the header is ignored.
	f("", "192.0.2.9", xff("198.51.100.7"), "192.0.2.9")
	f("10.0.0.0/8", "192.0.2.9", xff("198.51.100.7"), "192.0.2.9")
	// A trusted peer is believed: the rightmost hop it does not trust.
	f("10.0.0.0/8", "10.1.2.3", xff("198.51.100.7"), "198.51.100.7")
	f("10.0.0.0/8", "10.1.2.3", xff("6.6.6.6, 198.51.100.7, 10.9.9.9"), "198.51.100.7")
	f("10.0.0.0/8 192.0.2.1", "192.0.2.1", xff("6.6.6.6, 198.51.100.7", "10.9.9.9"), "198.51.100.7")
	// Every hop trusted: the leftmost.
	f("10.0.0.0/8", "10.1.2.3", xff("10.0.0.5, 10.0.0.6"), "10.0.0.5")
	// No header: the peer itself.
	f("10.0.0.0/8", "10.1.2.3", nil, "10.1.2.3")
	// Garbage ends the walk at the trusted hop right of it.
	f("10.0.0.0/8", "10.1.2.3", xff("198.51.100.7, nonsense, 10.0.0.8"), "10.0.0.8")
	f("10.0.0.0/8", "10.1.2.3", xff("nonsense"), "10.1.2.3")
	// IPv6 and IPv4-mapped addresses.
	f("2001:db8::/32", "2001:db8::1", xff("2001:db9::7"), "2001:db9::7")
	f("10.0.0.0/8", "::ffff:10.1.2.3", xff("::ffff:198.51.100.7"), "198.51.100.7")
}

func TestParseProxies(t *testing.T) {
	if _, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.1", " ::1 "}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("a bad CIDR parsed")
	}
	if _, err := ParseProxies([]string{"proxy.local"}); err == nil {
		t.Fatal("a host name parsed")
	}
}

func TestClientAddrRecorded(t *testing.T) {
	ctx := requestFrom("10.1.2.3", "198.51.100.7")
	if got := ClientAddr(ctx); got != netip.MustParseAddr("10.1.2.3") {
		t.Fatalf("without a server: %s, want the peer", got)
	}
	SetClientAddr(ctx, netip.MustParseAddr("198.51.100.7"))
	if got := ClientAddr(ctx); got != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("recorded: %s", got)
	}
}
