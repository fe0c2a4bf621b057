package auth

import "errors"

// TokenVerifier checks tokens of one kind that clients send where a
// password goes (Basic auth with any user name), as a Bearer token (npm's
// _authToken) or as the whole Authorization header (cargo): API tokens and
// the short-lived tokens of the OIDC exchange.
type TokenVerifier interface {
	// Verify returns the identity a token stands for, ErrNotMine when the
	// token is not of this verifier's kind (another verifier, or a
	// password, may take it), or another error when it is of this kind
	// but invalid, expired or revoked.
	Verify(token string) (*Identity, error)
}

// ErrNotMine is a TokenVerifier's answer for a token of another kind.
var ErrNotMine = errors.New("not a token of this kind")
