package cache

import "time"

// Config is the [storage] section.
type Config struct {
	Backend string   `toml:"backend"`
	Path    string   `toml:"path"`
	MaxSize Size     `toml:"max_size"`
	S3      S3Config `toml:"s3"`
	// FillTimeout bounds one upstream fill that makes no progress (a stall),
	// not its whole duration.
	StallTimeout Duration `toml:"stall_timeout"`
}

// S3Config is the [storage.s3] section (the S3 adapter comes later).
type S3Config struct {
	Endpoint  string `toml:"endpoint"`
	Bucket    string `toml:"bucket"`
	Region    string `toml:"region"`
	Prefix    string `toml:"prefix"`
	PathStyle bool   `toml:"path_style"`
}

// DefaultConfig returns the storage defaults.
func DefaultConfig() Config {
	return Config{
		Backend:      "disk",
		Path:         "./data",
		MaxSize:      200e9,
		S3:           S3Config{Region: "us-east-1", PathStyle: true},
		StallTimeout: Duration(60 * time.Second),
	}
}
