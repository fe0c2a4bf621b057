package auth

// Config is the [auth] section.
type Config struct {
	// AnonymousRead lets pulls through without a login.
	AnonymousRead bool `toml:"anonymous_read"`
	// Htpasswd is a file of "user:bcrypt-hash" lines. Empty: no one may
	// write.
	Htpasswd string `toml:"htpasswd"`
	// Groups names sets of users ([auth.groups] team-frontend = ["alice"]),
	// for rules to name as subjects.
	Groups map[string][]string `toml:"groups"`
	// Rules grant permissions to subjects ([[auth.rules]]). With none,
	// every htpasswd user may write everything (the behaviour before
	// rules existed).
	Rules []Rule `toml:"rules"`
	// OIDC lets CI jobs exchange their identity token for a short-lived
	// nora token ([[auth.oidc.providers]]).
	OIDC OIDCConfig `toml:"oidc"`
}

// Rule is one [[auth.rules]] entry: what subject (a user, a group, an API
// token's name or an OIDC rule's name) may do.
type Rule struct {
	Subject     string   `toml:"subject"`
	Permissions []string `toml:"permissions"`
}

// OIDCConfig is [auth.oidc].
type OIDCConfig struct {
	Providers []Provider `toml:"providers"`
}

// Provider is one [[auth.oidc.providers]] entry: an issuer whose ID tokens
// (for audience) nora exchanges, and the rules that map their claims to
// permissions.
type Provider struct {
	Name     string         `toml:"name"`
	Issuer   string         `toml:"issuer"`
	Audience string         `toml:"audience"`
	Rules    []ProviderRule `toml:"rules"`
}

// ProviderRule grants permissions to tokens whose claims match every glob
// of Match (claim name to glob, "/" as separator).
type ProviderRule struct {
	// Name is the subject [[auth.rules]] may name; "" is the provider's
	// name.
	Name        string            `toml:"name"`
	Match       map[string]string `toml:"match"`
	Permissions []string          `toml:"permissions"`
}

// DefaultConfig returns the [auth] defaults.
func DefaultConfig() Config { return Config{AnonymousRead: true} }
