package maven

import (
	"time"

	"nora/internal/units"
)

// Config is the [maven] section.
type Config struct {
	// Enabled turns the format off only when false (enabled = false in
	// the file); nil, the zero value, is on. Its routes then answer that
	// it is not enabled.
	Enabled *bool `toml:"enabled"`

	// Upstreams are tried in order; the first that has an artifact wins.
	Upstreams []UpstreamConfig `toml:"upstreams"`
	// TTL applies to maven-metadata.xml (and SNAPSHOT files); release
	// artifacts never expire.
	TTL         units.Duration `toml:"ttl"`
	NegativeTTL units.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
	// MaxUploadSize caps one deployed file (mvn deploy, PUT); a larger
	// one is refused with 413 and nothing is stored.
	MaxUploadSize units.Size `toml:"max_upload_size"`
}

// UpstreamConfig is one [[maven.upstreams]] entry.
type UpstreamConfig struct {
	URL      string `toml:"url"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Offline never contacts this upstream (DESIGN 2.2).
	Offline bool `toml:"offline"`
}

// DefaultConfig returns the [maven] defaults.
func DefaultConfig() Config {
	return Config{TTL: units.Duration(5 * time.Minute), NegativeTTL: units.Duration(time.Minute), MaxUploadSize: 2 << 30}
}

// IsEnabled reports whether the format serves (Enabled is not false).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }
