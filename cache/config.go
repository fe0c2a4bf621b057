package cache

import (
	"time"

	"nora/internal/units"
)

// Config is the [storage] section.
type Config struct {
	Backend string     `toml:"backend"`
	Path    string     `toml:"path"`
	MaxSize units.Size `toml:"max_size"`
	// MinFree keeps this much free on the filesystem of path: proxied
	// objects are evicted while less is free.
	MinFree units.Size `toml:"min_free"`
	S3      S3Config   `toml:"s3"`
	// FillTimeout bounds one upstream fill that makes no progress (a stall),
	// not its whole duration.
	StallTimeout units.Duration `toml:"stall_timeout"`
}

// S3Config is the [storage.s3] section, read by the cache/s3 adapter.
type S3Config struct {
	Endpoint  string `toml:"endpoint"`
	Bucket    string `toml:"bucket"`
	Region    string `toml:"region"`
	Prefix    string `toml:"prefix"`
	PathStyle bool   `toml:"path_style"`
	// Redirect answers blob GETs with a short-lived presigned URL of the
	// object instead of streaming it through nora.
	Redirect bool `toml:"redirect"`
}

// DefaultConfig returns the storage defaults.
func DefaultConfig() Config {
	return Config{
		Backend:      "disk",
		Path:         "./data",
		MaxSize:      200e9,
		MinFree:      2e9,
		S3:           S3Config{Region: "us-east-1", PathStyle: true},
		StallTimeout: units.Duration(60 * time.Second),
	}
}

// Limits are the eviction limits the section sets.
func (c Config) Limits() Limits { return Limits{MaxSize: int64(c.MaxSize), MinFree: int64(c.MinFree)} }
