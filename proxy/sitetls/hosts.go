package sitetls

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
)

// localAddrs are the machine's unicast addresses, loopback included;
// link-local ones are left out (they need a zone no client writes).
func localAddrs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() {
			continue
		}
		ips = append(ips, n.IP)
	}
	return ips, nil
}

// sans are the names and addresses the auto certificate must cover now.
func (c *Certs) sans() (names []string, ips []net.IP, err error) {
	hosts := []string{"localhost"}
	if c.cfg.Hosts != nil {
		hosts = *c.cfg.Hosts
	} else if h, herr := c.opts.Hostname(); herr == nil && h != "" {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		hosts = append(hosts, h)
		if !strings.Contains(h, ".") {
			hosts = append(hosts, h+".local")
		}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, strings.ToLower(h))
		}
	}
	local, err := c.opts.Addrs()
	if err != nil {
		return nil, nil, err
	}
	ips = append(ips, local...)
	return normNames(names), normIPs(ips), nil
}

func normNames(names []string) []string {
	slices.Sort(names)
	return slices.Compact(names)
}

// normIPs sorts and dedups, writing IPv4 addresses in 4 bytes as x509
// parses them back.
func normIPs(ips []net.IP) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, func(a, b net.IP) int { return strings.Compare(string(a), string(b)) })
	return slices.CompactFunc(out, net.IP.Equal)
}

// covers reports whether cert is for exactly names and ips.
func covers(cert *x509.Certificate, names []string, ips []net.IP) bool {
	return slices.Equal(normNames(slices.Clone(cert.DNSNames)), names) &&
		slices.EqualFunc(normIPs(cert.IPAddresses), ips, net.IP.Equal)
}
