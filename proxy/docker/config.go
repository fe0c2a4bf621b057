package docker

import (
	"fmt"
	"time"

	"nora/internal/units"

	"github.com/gobwas/glob"
)

// Config is the [docker] section.
type Config struct {
	// Enabled turns the format off only when false (enabled = false in
	// the file); nil, the zero value, is on. Its routes then answer that
	// it is not enabled.
	Enabled *bool `toml:"enabled"`

	Upstreams []UpstreamConfig `toml:"upstreams"`
	// NegativeTTL is how long an upstream 404 is remembered.
	NegativeTTL units.Duration `toml:"negative_ttl"`
	// MaxUploadSize caps one pushed blob: the whole of its upload session,
	// monolithic or in chunks. A larger one is refused with 413 and its
	// session's bytes are dropped.
	MaxUploadSize units.Size `toml:"max_upload_size"`
	// HostedNames are globs of repository names ("acme/*", "acme/**";
	// '*' stops at '/', '**' does not) served only from hosted state and
	// never looked up upstream, even before their first push: a push's
	// existence checks get 404 at once, with or without an upstream.
	// Pushed names are hosted without being listed here.
	HostedNames []string `toml:"hosted_names"`
}

// UpstreamConfig is one [[docker.upstreams]] entry.
type UpstreamConfig struct {
	// Name is the registry this upstream stands for ("docker.io", "ghcr.io"):
	// the value of containerd's ?ns= and an optional first path element.
	// "docker.io" gets the library/ rule.
	Name     string `toml:"name"`
	URL      string `toml:"url"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Realm is the token endpoint credentials may be sent to. Unset: only
	// to the upstream's own host.
	Realm   string         `toml:"realm"`
	TTL     units.Duration `toml:"ttl"`
	Offline bool           `toml:"offline"`
}

// DefaultMaxUploadSize is max_upload_size when unset: room for the largest
// layers CI images have (CUDA, ML models), not for a client that never stops.
const DefaultMaxUploadSize = 10 << 30

// DefaultConfig returns the [docker] defaults (no upstreams: the embedded
// default config file lists the public ones).
func DefaultConfig() Config {
	return Config{NegativeTTL: units.Duration(time.Minute), MaxUploadSize: DefaultMaxUploadSize}
}

// Check refuses what the TOML decoder could not (New checks it too).
func (c Config) Check() error {
	_, err := compileNames(c.HostedNames)
	return err
}

// compileNames compiles hosted_names, '/' being the separator '*' stops at.
func compileNames(globs []string) ([]*glob.Pattern, error) {
	var ps []*glob.Pattern
	for _, g := range globs {
		p, err := glob.Compile(g, '/')
		if err != nil || g == "" {
			return nil, fmt.Errorf("docker.hosted_names: invalid glob %q", g)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// IsEnabled reports whether the format serves (Enabled is not false).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }
