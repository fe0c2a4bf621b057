package cargo

import (
	"time"

	"nora/cache"
)

// Config is the [cargo] section.
type Config struct {
	// Index is the upstream sparse index root; its config.json names the
	// download (dl) host.
	Index       string         `toml:"index"`
	TTL         cache.Duration `toml:"ttl"`
	NegativeTTL cache.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
}

// DefaultConfig returns the [cargo] defaults.
func DefaultConfig() Config {
	return Config{TTL: cache.Duration(5 * time.Minute), NegativeTTL: cache.Duration(time.Minute)}
}
