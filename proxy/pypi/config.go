package pypi

import (
	"time"

	"nora/cache"
)

// Config is the [pypi] section.
type Config struct {
	// Upstream is the simple index root ("https://<index>/simple/").
	Upstream    string         `toml:"upstream"`
	TTL         cache.Duration `toml:"ttl"`
	NegativeTTL cache.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
}

// DefaultConfig returns the [pypi] defaults.
func DefaultConfig() Config {
	return Config{TTL: cache.Duration(5 * time.Minute), NegativeTTL: cache.Duration(time.Minute)}
}
