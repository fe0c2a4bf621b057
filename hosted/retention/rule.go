// Package retention trims hosted tags and Maven SNAPSHOT builds by the
// [[retention]] rules, before GC collects what they referred to.
package retention

import "nora/internal/units"

// Rule is one [[retention]] table.
type Rule struct {
	// Match is a glob on "<repository>/<tag>" ("**/dev-*").
	Match string `toml:"match"`
	// KeepLast keeps the newest this many matching tags of each repository.
	KeepLast int `toml:"keep_last"`
	// OlderThan removes only what is older than this.
	OlderThan units.Duration `toml:"older_than"`
}
