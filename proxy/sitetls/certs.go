package sitetls

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options are what tests replace; the zero value is the real machine.
type Options struct {
	Log *slog.Logger
	// Now is the clock renewals go by.
	Now func() time.Time
	// Addrs lists the machine's addresses (net.InterfaceAddrs).
	Addrs func() ([]net.IP, error)
	// Hostname is os.Hostname.
	Hostname func() (string, error)
	// Every is how often Run checks: the auto certificate's renewal and
	// addresses (default an hour), the files' modification times (default
	// 3 s).
	Every time.Duration
}

// Certs hands out the server certificate (GetCertificate) and keeps it
// current: Check renews the auto one, Reload rereads the files.
type Certs struct {
	cfg  Config
	dir  string
	opts Options
	cur  atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises Check and Reload
	ca    *authority // auto mode
	stamp fileStamp  // files mode: what was loaded
}

// Open loads or creates what cfg's mode needs; storagePath is
// [storage] path. It returns nil, nil when TLS is off.
func Open(cfg Config, storagePath string, opts Options) (*Certs, error) {
	if !cfg.On() {
		return nil, nil
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addrs == nil {
		opts.Addrs = localAddrs
	}
	if opts.Hostname == nil {
		opts.Hostname = os.Hostname
	}
	if opts.Every <= 0 {
		opts.Every = time.Hour
		if cfg.Mode == ModeFiles {
			opts.Every = 3 * time.Second
		}
	}
	c := &Certs{cfg: cfg, dir: Dir(storagePath), opts: opts}
	if cfg.Mode == ModeFiles {
		return c, c.Reload()
	}
	var err error
	if c.ca, err = loadOrCreateCA(c.dir, opts.Now()); err != nil {
		return nil, err
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// TLSConfig is the listener's configuration: TLS 1.2 or later, Go's
// cipher suites (ChaCha20-Poly1305 first on CPUs without AES
// instructions), HTTP/1.1 only (fasthttp speaks no HTTP/2).
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// GetCertificate returns the current certificate, whatever the client asks.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cur.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("no server certificate loaded")
}

// CAPEM is the site CA certificate in PEM (auto mode), else nil.
func (c *Certs) CAPEM() []byte {
	if c == nil || c.ca == nil {
		return nil
	}
	return c.ca.certPEM
}

// Run keeps the certificate current until ctx ends: auto mode checks
// renewal and addresses every hour, files mode the files' modification
// times every few seconds. Failures are logged; the certificate in use
// stays.
func (c *Certs) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if c.cfg.Mode == ModeFiles {
			err = c.reloadIfChanged()
		} else {
			err = c.Check()
		}
		if err != nil {
			c.opts.Log.Error("server certificate not renewed; the current one stays", "err", err)
		}
	}
}
