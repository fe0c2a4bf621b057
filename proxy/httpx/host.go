package httpx

import (
	"bytes"
	"net/netip"
)

// ValidHost reports whether h, a request's Host, is host[:port] with host a
// DNS name (letters, digits, '-' and '_' in dot-separated labels of at most
// 63 characters, 253 in all, one trailing dot allowed), an IPv4 literal or
// a bracketed IPv6 literal without zone, and port 1 to 5 digits up to
// 65535. With no server.public_url, the Host becomes the base of rewritten
// links and of the token realm in WWW-Authenticate: nothing that could
// close a quoted string or start another header parameter may pass.
// An empty Host (HTTP/1.0) is not valid either; the server lets it through
// on its own.
func ValidHost(h []byte) bool {
	host := h
	if i := bytes.LastIndexByte(h, ':'); i >= 0 && (h[0] != '[' || h[i-1] == ']') {
		host = h[:i]
		if !validPort(h[i+1:]) {
			return false
		}
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		a, err := netip.ParseAddr(string(host[1 : len(host)-1]))
		return err == nil && a.Is6() && a.Zone() == ""
	}
	return validDNSName(host)
}

func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// validDNSName also accepts IPv4 literals, which are such names.
func validDNSName(h []byte) bool {
	h = bytes.TrimSuffix(h, []byte("."))
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for label := range bytes.SplitSeq(h, []byte(".")) {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}
