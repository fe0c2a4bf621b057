package proxy

import (
	"time"

	"nora/cache"
)

// Config is the [server] section.
type Config struct {
	Listen    string `toml:"listen"`
	PublicURL string `toml:"public_url"`
	// ReadTimeout bounds reading one request's headers; IdleTimeout a
	// keep-alive connection between requests; StallTimeout a response write
	// that moves no byte (never a whole response: slow links are normal).
	ReadTimeout    cache.Duration `toml:"read_timeout"`
	IdleTimeout    cache.Duration `toml:"idle_timeout"`
	StallTimeout   cache.Duration `toml:"stall_timeout"`
	MaxHeaderBytes cache.Size     `toml:"max_header_bytes"`
	// MaxConns caps concurrent connections.
	MaxConns int `toml:"max_conns"`
	// AdminSocket is the admin API's unix socket; "" means admin.sock in
	// the [storage] path (admin.SocketPath).
	AdminSocket string `toml:"admin_socket"`
}

// DefaultConfig returns the [server] defaults.
func DefaultConfig() Config {
	return Config{
		Listen:         "0.0.0.0:4000",
		ReadTimeout:    cache.Duration(30 * time.Second),
		IdleTimeout:    cache.Duration(120 * time.Second),
		StallTimeout:   cache.Duration(60 * time.Second),
		MaxHeaderBytes: 16 << 10,
		MaxConns:       4096,
	}
}
