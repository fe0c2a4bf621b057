package pypi

import (
	"time"

	"nora/internal/units"
)

// Config is the [pypi] section.
type Config struct {
	// Enabled turns the format off only when false (enabled = false in
	// the file); nil, the zero value, is on. Its routes then answer that
	// it is not enabled.
	Enabled *bool `toml:"enabled"`

	// Upstream is the simple index root ("https://<index>/simple/"). Empty:
	// no upstream, only what is cached is served.
	Upstream    string         `toml:"upstream"`
	TTL         units.Duration `toml:"ttl"`
	NegativeTTL units.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
	// MaxPageSize caps one upstream project page (the largest PyPI pages,
	// JSON, are a few MB).
	MaxPageSize units.Size `toml:"max_page_size"`
	// MaxUploadSize caps one upload's whole request body (twine's
	// multipart form: metadata fields and the file) for hosted projects.
	// The file streams to a temp file, never into memory.
	MaxUploadSize units.Size `toml:"max_upload_size"`
}

// DefaultConfig returns the [pypi] defaults.
func DefaultConfig() Config {
	return Config{
		TTL:           units.Duration(5 * time.Minute),
		NegativeTTL:   units.Duration(time.Minute),
		MaxPageSize:   32 << 20,
		MaxUploadSize: 1 << 30,
	}
}

// IsEnabled reports whether the format serves (Enabled is not false).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }
