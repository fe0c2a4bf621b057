package npm

import (
	"fmt"
	"path"
	"time"

	hosted "nora/hosted/npm"
	"nora/internal/units"
)

// Config is the [npm] section.
type Config struct {
	// Enabled turns the format off only when false (enabled = false in
	// the file); nil, the zero value, is on. Its routes then answer that
	// it is not enabled.
	Enabled *bool `toml:"enabled"`

	Upstream    string         `toml:"upstream"`
	TTL         units.Duration `toml:"ttl"`
	NegativeTTL units.Duration `toml:"negative_ttl"`
	Offline     bool           `toml:"offline"`

	// Unpublish says which hosted versions npm unpublish may remove:
	// "never" (deprecate instead), "within-72h" (versions published less
	// than 72 hours ago, the public registry's rule) or "always". Empty
	// means "within-72h".
	Unpublish hosted.UnpublishPolicy `toml:"unpublish"`
	// MaxPublishSize caps one npm publish request: the JSON document that
	// carries the tarball in base64, a third larger than the tarball. 0
	// means 64 MiB.
	MaxPublishSize units.Size `toml:"max_publish_size"`
	// HostedNames are globs ("@acme/*", "acme-*"; path.Match syntax) of
	// package names served only from hosted state and never looked up
	// upstream, even before their first publish: they close the window in
	// which a public package could take a name the site means to publish
	// (dependency confusion). Published names are hosted without being
	// listed here.
	HostedNames []string `toml:"hosted_names"`
}

// DefaultConfig returns the [npm] defaults (the embedded config file names
// the public upstream).
func DefaultConfig() Config {
	return Config{
		TTL: units.Duration(5 * time.Minute), NegativeTTL: units.Duration(time.Minute),
		Unpublish: hosted.UnpublishWithin72h, MaxPublishSize: defaultMaxPublish,
	}
}

const defaultMaxPublish = 64 << 20

// Check refuses what the TOML decoder could not (New checks it too).
func (c Config) Check() error {
	for _, g := range c.HostedNames {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return fmt.Errorf("npm.hosted_names: invalid glob %q", g)
		}
	}
	return nil
}

// claimed reports whether name matches hosted_names.
func (c Config) claimed(name string) bool {
	for _, g := range c.HostedNames {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// IsEnabled reports whether the format serves (Enabled is not false).
func (c Config) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }
