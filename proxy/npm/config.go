package npm

import (
	"time"

	"nora/cache"
)

// Config is the [npm] section.
type Config struct {
	Upstream    string         `toml:"upstream"`
	TTL         cache.Duration `toml:"ttl"`
	NegativeTTL cache.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`
}

// DefaultConfig returns the [npm] defaults (the embedded config file names
// the public upstream).
func DefaultConfig() Config {
	return Config{TTL: cache.Duration(5 * time.Minute), NegativeTTL: cache.Duration(time.Minute)}
}
