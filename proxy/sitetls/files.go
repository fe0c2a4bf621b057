package sitetls

import (
	"fmt"
	"os"
	"time"
)

// fileStamp is what the cert and key files looked like when loaded.
type fileStamp struct {
	cert, key time.Time
	certSize  int64
	keySize   int64
}

func (c *Certs) stampNow() (fileStamp, error) {
	cfi, err := os.Stat(c.cfg.Cert)
	if err != nil {
		return fileStamp{}, err
	}
	kfi, err := os.Stat(c.cfg.Key)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{cfi.ModTime(), kfi.ModTime(), cfi.Size(), kfi.Size()}, nil
}

// Reload (files mode) rereads the cert and key files (SIGHUP); new
// connections get the new certificate, open ones keep theirs. When the
// pair does not load, the one in use stays and the error says why. In
// auto mode it checks the certificate as Run does.
func (c *Certs) Reload() error {
	if c == nil {
		return nil
	}
	if c.cfg.Mode != ModeFiles {
		return c.Check()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stampNow()
	if err != nil {
		return fmt.Errorf("cannot load the server certificate: %w", err)
	}
	pair, err := loadPair(c.cfg.Cert, c.cfg.Key)
	if err != nil {
		return fmt.Errorf("cannot load the server certificate: %w", err)
	}
	c.stamp = st
	if old := c.cur.Swap(pair); old != nil {
		c.opts.Log.Info("server certificate reloaded", "cert", c.cfg.Cert,
			"not_after", pair.Leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// reloadIfChanged reloads when either file's time or size changed: a
// certificate renewed by the site's own tooling needs no SIGHUP.
func (c *Certs) reloadIfChanged() error {
	c.mu.Lock()
	st, err := c.stampNow()
	same := err == nil && st == c.stamp
	c.mu.Unlock()
	if err != nil || same {
		return nil // mid-replacement, or unchanged: the next round sees it
	}
	return c.Reload()
}
