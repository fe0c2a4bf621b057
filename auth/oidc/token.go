package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"nora/auth"
)

// Prefix starts every token the exchange issues, so that the verifier
// knows its own and a leaked one is easy to scan for.
const Prefix = "norao_"

// maxToken bounds the nora tokens Verify parses: they travel in headers.
const maxToken = 8 << 10

// tokenClaims is what an exchanged token carries, signed.
type tokenClaims struct {
	Provider string   `json:"p"`
	PID      string   `json:"pid"` // the provider's fingerprint at issue
	Subjects []string `json:"sub"`
	Perms    []string `json:"perm"`
	Actor    string   `json:"act"`
	Exp      int64    `json:"exp"`
}

var (
	errInvalid = errors.New("invalid OIDC exchange token")
	errExpired = errors.New("OIDC exchange token expired")
	errRemoved = errors.New("the token's OIDC provider is no longer configured as it was")
)

func (e *Exchanger) sign(c tokenClaims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("cannot encode token claims: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return Prefix + payload + "." + base64.RawURLEncoding.EncodeToString(e.mac(payload)), nil
}

func (e *Exchanger) mac(payload string) []byte {
	m := hmac.New(sha256.New, e.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify implements auth.TokenVerifier for the tokens Exchange issues:
// auth.ErrNotMine for any other, an error for one that is forged, expired,
// or whose provider a reload removed or changed.
func (e *Exchanger) Verify(token string) (*auth.Identity, error) {
	rest, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		return nil, auth.ErrNotMine
	}
	if len(token) > maxToken {
		return nil, errInvalid
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, e.mac(payload)) {
		return nil, errInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errInvalid
	}
	var c tokenClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, errInvalid
	}
	if e.now().Unix() >= c.Exp {
		return nil, errExpired
	}
	p := e.providers.Load().byName[c.Provider]
	if p == nil || p.id != c.PID {
		return nil, errRemoved
	}
	return e.identity(c)
}

// identity is the auth.Identity a token's claims stand for. Limit is never
// nil (nil would mean no cap): a token can do what its rules granted and
// nothing more. Limit is shared between identities; no one writes it.
func (e *Exchanger) identity(c tokenClaims) (*auth.Identity, error) {
	key := strings.Join(c.Perms, "\n")
	limit, ok := e.perms.Load(key)
	if !ok {
		ps, err := auth.ParsePermissions(c.Perms)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalid, err)
		}
		limit, _ = e.perms.LoadOrStore(key, ps)
	}
	return &auth.Identity{Name: c.Provider, Kind: auth.OIDC, Subjects: append([]string(nil), c.Subjects...),
		Limit: limit.([]auth.Permission), Actor: c.Actor}, nil
}

// Current reports whether id, from an exchanged token, still belongs to a
// configured provider whose rules can give what it holds: a reload may
// have removed the provider, or dropped or narrowed a rule.
func (e *Exchanger) Current(id *auth.Identity) bool {
	if id == nil || id.Kind != auth.OIDC {
		return false
	}
	p := e.providers.Load().byName[id.Name]
	return p != nil && p.grants(id)
}
