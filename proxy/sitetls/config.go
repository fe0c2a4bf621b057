// Package sitetls gives nora's HTTPS listener its certificate: in "auto"
// mode from a site CA nora creates and keeps in storage.path/tls/, in
// "files" mode from a certificate and key the site provides. Either way the
// certificate is handed out by GetCertificate from an atomic pointer, so a
// renewal or a reload takes effect for new connections without a restart
// and without touching open ones.
package sitetls

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
)

// Modes of [server.tls].
const (
	ModeOff   = "off"
	ModeAuto  = "auto"
	ModeFiles = "files"
)

// Config is [server.tls].
type Config struct {
	Mode string `toml:"mode"`
	// Cert and Key are PEM files (files mode); Cert may hold the chain.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Hosts are the names and addresses the auto certificate is for; nil
	// means the host name, <hostname>.local and localhost. The machine's
	// own addresses are always added. A pointer keeps Config comparable.
	Hosts *[]string `toml:"hosts"`
}

// DefaultConfig is TLS off: plain HTTP, as the two-command start expects.
func DefaultConfig() Config { return Config{Mode: ModeOff} }

// On reports whether the main listener speaks TLS.
func (c Config) On() bool { return c.Mode == ModeAuto || c.Mode == ModeFiles }

// Dir is where auto mode keeps the site CA and the server certificate.
func Dir(storagePath string) string { return filepath.Join(storagePath, "tls") }

// CAFile is the site CA certificate (public) under storagePath.
func CAFile(storagePath string) string { return filepath.Join(Dir(storagePath), caCertFile) }

var hostName = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// Check reports the first key whose value makes no sense, and why.
func (c Config) Check() (key string, err error) {
	switch c.Mode {
	case ModeOff, ModeAuto:
		if c.Cert != "" || c.Key != "" {
			return "cert", fmt.Errorf("cert and key are read only when mode is %q", ModeFiles)
		}
	case ModeFiles:
		if c.Cert == "" || c.Key == "" {
			return "cert", fmt.Errorf("cert and key are required when mode is %q", ModeFiles)
		}
	default:
		return "mode", fmt.Errorf("want %q, %q or %q, got %q", ModeOff, ModeAuto, ModeFiles, c.Mode)
	}
	if c.Hosts != nil {
		if c.Mode != ModeAuto {
			return "hosts", fmt.Errorf("read only when mode is %q", ModeAuto)
		}
		for _, h := range *c.Hosts {
			if net.ParseIP(h) == nil && !hostName.MatchString(h) {
				return "hosts", fmt.Errorf("want host names or IP addresses, got %q", h)
			}
		}
	}
	return "", nil
}
