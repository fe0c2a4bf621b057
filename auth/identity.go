package auth

// Kind says what vouched for an Identity.
type Kind uint8

const (
	// User is an htpasswd user (Name is the user name).
	User Kind = iota
	// APIToken is a token made by `nora token create` (Name is the
	// token's name).
	APIToken
	// OIDC is a short-lived token issued by the OIDC exchange (Name is
	// the provider's name).
	OIDC
)

func (k Kind) String() string {
	switch k {
	case APIToken:
		return "token"
	case OIDC:
		return "oidc"
	}
	return "user"
}

// Identity is an authenticated caller.
type Identity struct {
	Name string
	Kind Kind
	// Subjects are the names [[auth.rules]] match against: a user and
	// the groups it belongs to, a token's name, the OIDC rules whose
	// claims matched.
	Subjects []string
	// Limit, when not nil, caps what the identity may do whatever the
	// rules say: an API token's --permissions, an OIDC token's matched
	// rule permissions.
	Limit []Permission
	// Actor names the identity in the audit log: "alice", "token laptop",
	// "oidc github-actions repository=my-org/app ref=refs/heads/main".
	// Never a secret.
	Actor string
	// gen is the load of the user file whose entry vouched for Name: an
	// identity, and a token carrying it, lapses when a reload removes or
	// changes that entry. Zero (an Identity made outside this package)
	// is never current.
	gen uint64
}
