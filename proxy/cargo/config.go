package cargo

import (
	"time"

	"nora/internal/units"
)

// Config is the [cargo] section.
type Config struct {
	// Enabled turns the format off only when false (enabled = false in
	// the file); nil, the zero value, is on. Its routes then answer that
	// it is not enabled.
	Enabled *bool `toml:"enabled"`

	// Index is the upstream sparse index root; its config.json names the
	// download (dl) host.
	Index       string         `toml:"index"`
	TTL         units.Duration `toml:"ttl"`
	NegativeTTL units.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
	// MaxUploadSize caps one `cargo publish` body (metadata and .crate);
	// larger ones are refused with 413 before they are read. crates.io
	// accepts 10 MB.
	MaxUploadSize units.Size `toml:"max_upload_size"`
}

// DefaultMaxUploadSize is max_upload_size when unset.
const DefaultMaxUploadSize = 64 << 20

// DefaultConfig returns the [cargo] defaults.
func DefaultConfig() Config {
	return Config{TTL: units.Duration(5 * time.Minute), NegativeTTL: units.Duration(time.Minute), MaxUploadSize: DefaultMaxUploadSize}
}

// IsEnabled reports whether the format serves (Enabled is not false).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }
