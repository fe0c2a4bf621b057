package sitetls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// Check (auto mode) makes sure the server certificate in use is signed by
// the site CA, covers today's names and addresses, and has more than a
// third of its life left; else it issues a new one, stores it and serves
// it from the next handshake on.
func (c *Certs) Check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	names, ips, err := c.sans()
	if err != nil {
		return fmt.Errorf("cannot list the local addresses: %w", err)
	}
	now := c.opts.Now()
	cur := c.cur.Load()
	if cur == nil {
		// First check since start: the stored certificate, if any and good.
		cur, _ = loadPair(filepath.Join(c.dir, serverCertFile), filepath.Join(c.dir, serverKeyFile))
	}
	if cur != nil && c.fresh(cur.Leaf, names, ips, now) {
		c.cur.Store(cur)
		return nil
	}
	certPEM, keyPEM, err := c.ca.issue(names, ips, now)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.dir, serverKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.dir, serverCertFile), certPEM, 0o644); err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	c.cur.Store(&pair)
	c.opts.Log.Info("server certificate issued by the site CA",
		"names", names, "addresses", fmt.Sprint(ips), "not_after", pair.Leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// fresh reports whether leaf may go on serving at now.
func (c *Certs) fresh(leaf *x509.Certificate, names []string, ipsWant []net.IP, now time.Time) bool {
	if leaf == nil || leaf.CheckSignatureFrom(c.ca.cert) != nil || !covers(leaf, names, ipsWant) {
		return false
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return now.Before(leaf.NotAfter.Add(-life / 3))
}
