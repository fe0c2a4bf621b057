package oidc

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"nora/auth"
	"nora/internal/fault"
)

// discoveryRetry is how long a failed discovery is remembered before an
// exchange tries the issuer again: an issuer that is down costs one request
// per interval, not one per CI job.
const discoveryRetry = 5 * time.Second

// provider is one configured issuer. Discovery and the JWKS are fetched
// on first use, so nora starts while the issuer is unreachable; the
// verifier's key set refetches the JWKS when a token names a key id it has
// not seen (a rotation).
type provider struct {
	cfg   auth.Provider
	rules []rule
	// id fingerprints the issuer, audience and rules: a token issued under
	// another id (the config changed on reload) is no longer honoured.
	id string
	// grants are the rule names and permissions the rules can give, for
	// Current to check identities that outlive their token (in a registry
	// token) against.
	names, perms map[string]bool

	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	verifier *gooidc.IDTokenVerifier
	failedAt time.Time
	failure  error
}

func newProvider(cfg auth.Provider, rules []rule, client *http.Client, now func() time.Time) *provider {
	p := &provider{cfg: cfg, rules: rules, id: fingerprint(cfg), client: client, now: now,
		names: map[string]bool{}, perms: map[string]bool{}}
	for _, r := range rules {
		p.names[r.name] = true
		for _, perm := range r.perms {
			p.perms[perm] = true
		}
	}
	return p
}

// grants reports whether the rules can still give id's subjects and
// permissions: false once a reload dropped or narrowed a rule id had.
func (p *provider) grants(id *auth.Identity) bool {
	for _, s := range id.Subjects {
		if !p.names[s] {
			return false
		}
	}
	for _, perm := range id.Limit {
		if !p.perms[perm.String()] {
			return false
		}
	}
	return true
}

// sameIssuer reports whether q can reuse p's discovery and key cache.
func (p *provider) sameIssuer(q *provider) bool {
	return p.cfg.Issuer == q.cfg.Issuer && p.cfg.Audience == q.cfg.Audience
}

// idVerifier returns the verifier, discovering the issuer first if no
// discovery has succeeded yet.
func (p *provider) idVerifier() (*gooidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verifier != nil {
		return p.verifier, nil
	}
	if p.failure != nil && p.now().Sub(p.failedAt) < discoveryRetry {
		return nil, p.failure
	}
	// The key set keeps this context for its later fetches: it carries
	// the client (with its timeout), and no request's cancellation.
	ctx := gooidc.ClientContext(context.Background(), p.client)
	d, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		p.failedAt = p.now()
		f := fault.Wrap(fault.Unavailable, fmt.Errorf("cannot discover OIDC issuer of provider %s: %w", p.cfg.Name, err),
			"the identity provider "+p.cfg.Name+" cannot be reached; retry shortly")
		f.RetryAfter = int(discoveryRetry / time.Second)
		p.failure = f
		return nil, p.failure
	}
	p.verifier = d.VerifierContext(ctx, &gooidc.Config{
		// The algorithms are those the discovery document lists.
		ClientID: p.cfg.Audience,
		Now:      p.now,
	})
	p.failure = nil
	return p.verifier, nil
}
