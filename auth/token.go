package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"nora/cache"
)

// Registry bearer tokens (the distribution "token authentication" flow):
// /auth/token issues them, /v2/ checks them. nora is its own token server,
// so a token is an HS256 JWT signed with a key of its own. The app keeps
// the key in the store (NewSharedTokens): a token outlives a restart of
// nora for its few minutes, and passes on every instance of one bucket.

const (
	// TokenService is the service of nora's challenges and the audience of
	// its tokens.
	TokenService = "nora"
	// DefaultTokenTTL is how long a token is valid. Clients fetch a new
	// one when it runs out, so a long push outlives its tokens.
	DefaultTokenTTL = 5 * time.Minute
	// All stands for every action in a scope ("repository:x:*") and is the
	// one action of the catalog scope ("registry:catalog:*").
	All Action = "*"

	// MaxScopes bounds the resources one token request may ask for.
	MaxScopes = 16
	// maxTokenBytes bounds what Verify reads: tokens travel in a header.
	maxTokenBytes = 8 << 10
	maxScopeName  = 256
)

var (
	// ErrInvalidToken is a token nora did not issue, or one changed since.
	ErrInvalidToken = errors.New("invalid token")
	// ErrTokenExpired is a genuine token past its expiry.
	ErrTokenExpired = errors.New("token expired")
	// ErrInvalidScope is a scope that is not "type:name:action[,action]".
	ErrInvalidScope = errors.New("invalid scope")
)

// Access is one resource of a scope or a token and the actions on it
// ("repository", "team/app", ["pull", "push"]).
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// String is the scope form, "type:name:a,b".
func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// ParseScope parses one scope parameter: space-separated items of
// "type:name:actions". The name may hold colons (a registry port), so the
// type ends at the first colon and the actions start after the last one. A
// resource class ("repository(plugin)") is dropped.
func ParseScope(s string) ([]Access, error) {
	var out []Access
	for item := range strings.FieldsSeq(s) {
		typ, rest, ok := strings.Cut(item, ":")
		i := strings.LastIndexByte(rest, ':')
		if !ok || i < 0 {
			return nil, fmt.Errorf("%w %q: want type:name:actions", ErrInvalidScope, item)
		}
		name, actions := rest[:i], rest[i+1:]
		if open := strings.IndexByte(typ, '('); open > 0 && strings.HasSuffix(typ, ")") {
			typ = typ[:open]
		}
		if !validScopeWord(typ) || name == "" || len(name) > maxScopeName || actions == "" {
			return nil, fmt.Errorf("%w %q: want type:name:actions", ErrInvalidScope, item)
		}
		a := Access{Type: typ, Name: name}
		for act := range strings.SplitSeq(actions, ",") {
			if act != string(All) && !validScopeWord(act) {
				return nil, fmt.Errorf("%w %q: bad action %q", ErrInvalidScope, item, act)
			}
			if !slices.Contains(a.Actions, act) {
				a.Actions = append(a.Actions, act)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func validScopeWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// repositoryActions are the actions a repository grant can hold, in the
// order tokens list them.
var repositoryActions = []Action{Pull, Push, Delete}

// Grant returns the part of want that a allows id (nil: anonymous) in
// format: per repository, the requested actions it may do ("*" asks for
// all of them); the catalog ("registry:catalog:*") to whoever may pull.
// Other resource types, unknown actions and resources granted nothing are
// left out; repeated resources are merged.
func Grant(a Authorizer, id *Identity, format string, want []Access) []Access {
	var out []Access
	for _, w := range want {
		var granted []string
		switch {
		case w.Type == "repository":
			for _, act := range repositoryActions {
				asked := slices.Contains(w.Actions, string(act)) || slices.Contains(w.Actions, string(All))
				if asked && (act == Pull || a.WritesEnabled()) && a.Allowed(id, act, format, w.Name) {
					granted = append(granted, string(act))
				}
			}
		case w.Type == "registry" && w.Name == "catalog" && slices.Contains(w.Actions, string(All)):
			if a.Allowed(id, Pull, format, "") {
				granted = []string{string(All)}
			}
		}
		if len(granted) == 0 {
			continue
		}
		i := slices.IndexFunc(out, func(o Access) bool { return o.Type == w.Type && o.Name == w.Name })
		if i < 0 {
			out = append(out, Access{Type: w.Type, Name: w.Name, Actions: granted})
			continue
		}
		for _, g := range granted {
			if !slices.Contains(out[i].Actions, g) {
				out[i].Actions = append(out[i].Actions, g)
			}
		}
	}
	return out
}

// Claims is what a verified token says.
type Claims struct {
	// Subject is the name of the identity the token was issued to (a
	// user, an API token's name, an OIDC provider); "" is anonymous.
	Subject   string
	Access    []Access
	IssuedAt  time.Time
	ExpiresAt time.Time
	// id is the identity the token was issued to, as it was then, gen
	// included: the Authorizer checks it on every use, so a token lapses
	// with its user's entry, its API token or its OIDC token.
	id *Identity
}

// Identity is the identity the token was issued to, nil for an anonymous
// token.
func (c *Claims) Identity() *Identity {
	if c.id == nil {
		return nil
	}
	id := *c.id
	return &id
}

// Allows reports whether the token grants action on the resource typ/name.
func (c *Claims) Allows(typ, name string, action Action) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && slices.Contains(a.Actions, string(action)) {
			return true
		}
	}
	return false
}

// Tokens issues and verifies nora's bearer tokens. It holds its key, so
// several can live in one process; tokens of one are invalid for another.
type Tokens struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	limits limitCache
}

// NewTokens makes a random signing key; ttl <= 0 means DefaultTokenTTL.
func NewTokens(ttl time.Duration) (*Tokens, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("cannot make a token signing key: %w", err)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{key: key, ttl: ttl, now: time.Now}, nil
}

// SetClock makes t read the time from now: tests move it past a token's
// expiry instead of sleeping through it.
func (t *Tokens) SetClock(now func() time.Time) { t.now = now }

// jwtHeader is the only header nora issues and accepts: fixing it rules
// out algorithm confusion ("alg":"none").
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type jwtClaims struct {
	Issuer    string   `json:"iss"`
	Audience  string   `json:"aud"`
	Subject   string   `json:"sub"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	Access    []Access `json:"access"`
	Gen       uint64   `json:"gen,omitempty"`
	// The rest of the Identity, so that a registry token stands for what
	// its credentials stood for: an API token's name and permissions, an
	// OIDC token's matched rules. Limit is absent for "no cap" and [] for
	// "nothing".
	Kind     string   `json:"kind,omitempty"`
	Subjects []string `json:"subjects,omitempty"`
	Limit    []string `json:"limit,omitzero"`
	Actor    string   `json:"actor,omitempty"`
}

// Issue signs a token for id (nil: anonymous) granting access.
func (t *Tokens) Issue(id *Identity, access []Access) (string, Claims, error) {
	now := t.now()
	c := jwtClaims{Issuer: TokenService, Audience: TokenService, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(t.ttl).Unix(), Access: access}
	if id != nil {
		c.Subject, c.Gen, c.Subjects, c.Actor = id.Name, id.gen, id.Subjects, id.Actor
		if id.Kind != User {
			c.Kind = id.Kind.String()
		}
		if id.Limit != nil {
			c.Limit = make([]string, len(id.Limit))
			for i, p := range id.Limit {
				c.Limit[i] = p.String()
			}
		}
	}
	if c.Access == nil {
		c.Access = []Access{}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, fmt.Errorf("cannot encode token: %w", err)
	}
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	tok := signed + "." + base64.RawURLEncoding.EncodeToString(t.sign(signed))
	if len(tok) > maxTokenBytes {
		return "", Claims{}, fmt.Errorf("cannot issue a token of %d bytes (more than %d): too many scopes", len(tok), maxTokenBytes)
	}
	return tok, Claims{Subject: c.Subject, Access: c.Access, IssuedAt: time.Unix(c.IssuedAt, 0),
		ExpiresAt: time.Unix(c.ExpiresAt, 0), id: id}, nil
}

// TTL is how long issued tokens are valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

func (t *Tokens) sign(s string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Verify checks that tok was issued by t, unchanged, and has not expired.
// It is an HMAC and a small JSON decode: cheap enough for every request.
func (t *Tokens) Verify(tok string) (*Claims, error) {
	if len(tok) > maxTokenBytes {
		return nil, ErrInvalidToken
	}
	header, rest, ok := strings.Cut(tok, ".")
	if !ok || header != jwtHeader {
		return nil, ErrInvalidToken
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, ErrInvalidToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.sign(tok[:len(header)+1+len(payload)])) {
		return nil, ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, ErrInvalidToken
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil || c.Issuer != TokenService || c.Audience != TokenService {
		return nil, ErrInvalidToken
	}
	// This process issued it, so a token from the future means the clock
	// stepped back (a Pi without a clock battery meeting NTP): refuse it
	// rather than let it live longer than its ttl.
	now := t.now()
	if !now.Before(time.Unix(c.ExpiresAt, 0)) || now.Before(time.Unix(c.IssuedAt, 0).Add(-time.Minute)) {
		return nil, ErrTokenExpired
	}
	id, err := t.identity(&c)
	if err != nil {
		return nil, err
	}
	return &Claims{Subject: c.Subject, Access: c.Access, IssuedAt: time.Unix(c.IssuedAt, 0),
		ExpiresAt: time.Unix(c.ExpiresAt, 0), id: id}, nil
}

// identity rebuilds the Identity a token was issued to; nil for an
// anonymous one.
func (t *Tokens) identity(c *jwtClaims) (*Identity, error) {
	if c.Subject == "" {
		return nil, nil
	}
	id := &Identity{Name: c.Subject, Subjects: c.Subjects, Actor: c.Actor, gen: c.Gen}
	switch c.Kind {
	case "":
		id.Kind = User
	case APIToken.String():
		id.Kind = APIToken
	case OIDC.String():
		id.Kind = OIDC
	default:
		return nil, ErrInvalidToken
	}
	if c.Limit != nil {
		limit, err := t.limits.parse(c.Limit)
		if err != nil {
			return nil, ErrInvalidToken
		}
		id.Limit = limit
	}
	return id, nil
}

// limitCache keeps the permissions of the tokens' limits compiled: a push
// checks its registry token on every request, and a glob compiles in
// microseconds where a map lookup takes nanoseconds. Only limits this
// process signed reach it; it is emptied when it grows past maxLimits.
type limitCache struct {
	mu sync.Mutex
	m  map[string][]Permission
}

const maxLimits = 1024

func (lc *limitCache) parse(ss []string) ([]Permission, error) {
	key := strings.Join(ss, "\n")
	lc.mu.Lock()
	ps, ok := lc.m[key]
	lc.mu.Unlock()
	if ok {
		return ps, nil
	}
	ps, err := ParsePermissions(ss)
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	if lc.m == nil || len(lc.m) >= maxLimits {
		lc.m = map[string][]Permission{}
	}
	lc.m[key] = ps
	lc.mu.Unlock()
	return ps, nil
}

// sharedKeyName is the store object that holds the signing key of
// instances sharing a store.
const sharedKeyName = "state/registry-token-key"

// NewSharedTokens is NewTokens with the signing key an object of store:
// a token passes after a restart, and on every instance that shares the
// store (an S3 bucket behind a load balancer). The first start makes the
// key (a conditional create: concurrent starts agree on one) and the rest
// read it. Whoever can read the store can forge tokens, as they can read
// everything the tokens guard.
func NewSharedTokens(ctx context.Context, store cache.Store, ttl time.Duration) (*Tokens, error) {
	t, err := NewTokens(ttl)
	if err != nil {
		return nil, err
	}
	err = cache.Update(ctx, store, sharedKeyName, 1024, func(old []byte) ([]byte, error) {
		if len(old) > 0 {
			return nil, nil // a key exists: keep it
		}
		return []byte(base64.StdEncoding.EncodeToString(t.key)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot store the token signing key: %w", err)
	}
	b, err := cache.ReadAll(ctx, store, sharedKeyName, 1024)
	if err != nil {
		return nil, fmt.Errorf("cannot read the token signing key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("the token signing key %s is damaged", sharedKeyName)
	}
	t.key = key
	return t, nil
}
