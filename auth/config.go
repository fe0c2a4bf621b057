package auth

// Config is the [auth] section. Rules, tokens, OIDC and tenants come later.
type Config struct {
	// AnonymousRead lets pulls through without a login.
	AnonymousRead bool `toml:"anonymous_read"`
	// Htpasswd is a file of "user:bcrypt-hash" lines; its users may push.
	// Empty: no one may write.
	Htpasswd string `toml:"htpasswd"`
}

// DefaultConfig returns the [auth] defaults.
func DefaultConfig() Config { return Config{AnonymousRead: true} }
