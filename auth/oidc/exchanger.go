// Package oidc exchanges the identity tokens CI runners get from their
// OpenID Connect issuer (GitHub Actions, GitLab, ...) for short-lived nora
// tokens limited by the rules of [[auth.oidc.providers]] that match their
// claims.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"nora/auth"
	"nora/internal/fault"
)

const (
	// DefaultTTL is how long an exchanged token lasts, unless the ID token
	// expires sooner.
	DefaultTTL = 15 * time.Minute
	// MaxTTL caps Options.TTL.
	MaxTTL = time.Hour
	// maxIDToken bounds the ID tokens parsed.
	maxIDToken = 16 << 10
)

// ErrRejected marks an ID token nora does not accept: a bad signature, a
// wrong audience, an unknown issuer, an expired token. The endpoint
// answers 401.
var ErrRejected = errors.New("ID token rejected")

// Options tune an Exchanger; the zero value is the defaults.
type Options struct {
	// TTL of the issued tokens; 0 is DefaultTTL, more than MaxTTL is
	// MaxTTL.
	TTL time.Duration
	// Now is the clock of expiry checks; nil is time.Now.
	Now func() time.Time
	// Client fetches discovery documents and key sets; nil is a client
	// with a 10 s timeout.
	Client *http.Client
}

// Exchanger checks ID tokens against the configured providers and issues
// and verifies nora's tokens for them. Its signing key lives in memory
// only: a restart invalidates every issued token, and CI jobs exchange
// again.
type Exchanger struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	client *http.Client

	providers atomic.Pointer[providerSet]
	// perms caches parsed permission lists by their text: a token is
	// verified on every request of a push, and globs compile once.
	perms sync.Map
}

type providerSet struct {
	list   []*provider
	byName map[string]*provider
}

// New builds an Exchanger for cfg. No issuer is contacted until a token
// arrives.
func New(cfg auth.OIDCConfig, o Options) (*Exchanger, error) {
	e := &Exchanger{key: make([]byte, 32), ttl: o.TTL, now: o.Now, client: o.Client}
	rand.Read(e.key) // never fails (crypto/rand)
	if e.ttl <= 0 {
		e.ttl = DefaultTTL
	}
	e.ttl = min(e.ttl, MaxTTL)
	if e.now == nil {
		e.now = time.Now
	}
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second}
	}
	if err := e.Reload(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload replaces the providers and their rules (SIGHUP). A provider whose
// issuer and audience stay keeps its discovery and keys. Tokens issued for
// a provider that is removed, or whose settings or rules change, stop
// working. On error nothing changes.
func (e *Exchanger) Reload(cfg auth.OIDCConfig) error {
	old := e.providers.Load()
	set := &providerSet{byName: map[string]*provider{}}
	for _, pc := range cfg.Providers {
		if pc.Name == "" {
			return errors.New("an OIDC provider has no name")
		}
		if set.byName[pc.Name] != nil {
			return fmt.Errorf("OIDC provider %q is configured twice", pc.Name)
		}
		rules, err := compileRules(pc)
		if err != nil {
			return err
		}
		p := newProvider(pc, rules, e.client, e.now)
		if old != nil {
			if q := old.byName[pc.Name]; q != nil && q.sameIssuer(p) {
				q.mu.Lock()
				p.verifier = q.verifier
				q.mu.Unlock()
			}
		}
		set.list = append(set.list, p)
		set.byName[pc.Name] = p
	}
	e.providers.Store(set)
	return nil
}

func fingerprint(p auth.Provider) string {
	b, _ := json.Marshal(p) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Active reports whether any provider is configured.
func (e *Exchanger) Active() bool { return len(e.providers.Load().list) > 0 }

// Issued is the answer of an exchange.
type Issued struct {
	Token     string
	ExpiresIn time.Duration
	Identity  *auth.Identity
}

// Exchange verifies an ID token and issues a nora token with the
// permissions of every rule its claims match. Errors are *fault.Error:
// ErrRejected in the chain (401), Denied when no rule matches, Unavailable
// when the issuer cannot be reached. No message holds the token.
func (e *Exchanger) Exchange(ctx context.Context, idToken string) (Issued, error) {
	p, idt, err := e.verifyID(ctx, idToken)
	if err != nil {
		return Issued{}, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Issued{}, rejected("the token's claims cannot be read", err)
	}
	g, ok := applyRules(p.rules, claims)
	if !ok {
		return Issued{}, fault.Newf(fault.Denied, "no rule of provider %s matches the token's claims", p.cfg.Name)
	}
	now := e.now()
	exp := min(now.Add(e.ttl).Unix(), idt.Expiry.Unix())
	if exp <= now.Unix() {
		return Issued{}, rejected("the token has expired", nil)
	}
	c := tokenClaims{Provider: p.cfg.Name, PID: p.id, Subjects: g.subjects, Perms: g.perms,
		Actor: actor(p.cfg.Name, g.matched), Exp: exp}
	tok, err := e.sign(c)
	if err != nil {
		return Issued{}, err
	}
	id, err := e.identity(c)
	if err != nil {
		return Issued{}, err
	}
	return Issued{Token: tok, ExpiresIn: time.Duration(exp-now.Unix()) * time.Second, Identity: id}, nil
}

// verifyID finds the provider of idToken and checks the token with it.
func (e *Exchanger) verifyID(ctx context.Context, idToken string) (*provider, *gooidc.IDToken, error) {
	if len(idToken) > maxIDToken {
		return nil, nil, rejected("the token is too large", nil)
	}
	u, err := peek(idToken)
	if err != nil {
		return nil, nil, rejected("the token is not a JWT", err)
	}
	var byIssuer []*provider
	for _, p := range e.providers.Load().list {
		if p.cfg.Issuer == u.Issuer {
			byIssuer = append(byIssuer, p)
		}
	}
	if len(byIssuer) == 0 {
		return nil, nil, rejected("the token's issuer is not a configured provider", nil)
	}
	var failure error
	for _, p := range byIssuer {
		if !slices.Contains(u.Audience, p.cfg.Audience) {
			continue
		}
		v, err := p.idVerifier()
		if err != nil {
			return nil, nil, err
		}
		idt, err := v.Verify(ctx, idToken)
		if err == nil {
			return p, idt, nil
		}
		failure = classify(err)
	}
	if failure == nil {
		return nil, nil, rejected("the token's audience is not the configured one", nil)
	}
	return nil, nil, failure
}

// unverified are the claims an exchange routes on before it checks them.
type unverified struct {
	Issuer   string   `json:"iss"`
	Audience audience `json:"aud"`
}

// audience is aud, a string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

func peek(jwt string) (unverified, error) {
	var u unverified
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return u, errors.New("want three dot-separated parts")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return u, fmt.Errorf("cannot decode the payload: %w", err)
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return u, fmt.Errorf("cannot parse the payload: %w", err)
	}
	return u, nil
}

// classify turns a go-oidc verification failure into the reason a client
// reads. Issuer and audience were checked before; what is left is the
// expiry, the signature, or the key set being out of reach.
func classify(err error) error {
	var expired *gooidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return rejected("the token has expired", err)
	case strings.Contains(err.Error(), "fetching keys"):
		// go-oidc says so when the JWKS fetch for an unknown key id fails.
		return fault.Wrap(fault.Unavailable, err, "the identity provider's keys cannot be fetched; retry shortly")
	case strings.Contains(err.Error(), "signature"):
		return rejected("the token's signature does not verify", err)
	}
	return rejected("the token is not valid", err)
}

func rejected(msg string, cause error) error {
	if cause == nil {
		return fault.Wrap(fault.Denied, ErrRejected, msg)
	}
	return fault.Wrap(fault.Denied, fmt.Errorf("%w: %w", ErrRejected, cause), msg)
}
