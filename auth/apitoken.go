package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"nora/cache"
	"nora/internal/fault"
)

// API tokens (`nora token create`): random secrets a client sends where a
// password goes. Only their SHA-256 is kept: a token has 256 random bits,
// so a fast hash is as safe as bcrypt and costs nothing per request.

// APITokenPrefix starts every API token: Verify tells them from passwords
// and other tokens by it, and secret scanners can recognise them.
const APITokenPrefix = "nora_"

// APITokensFile is the token store's file in the storage directory.
const APITokensFile = "api-tokens.json"

// maxTokenName bounds a token's name, which lands in URLs and log lines.
const maxTokenName = 64

// tokenText is the secret's text: lower-case base32, no padding, so it
// survives URLs, shells and config files unquoted.
var tokenText = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrUnknownAPIToken is a token of nora's form that no stored token hashes to
// (never issued, or revoked).
var ErrUnknownAPIToken = errors.New("unknown API token")

// APITokenInfo is what may be shown of a token: never its secret.
type APITokenInfo struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// apiToken is one stored token.
type apiToken struct {
	APITokenInfo
	// Hash is the hex SHA-256 of the token's text.
	Hash string `json:"sha256"`
	// Gen tells this token from an earlier one of the same name: registry
	// JWTs carry it, so revoking and re-creating a name does not revive
	// the old token's JWTs.
	Gen uint64 `json:"gen"`

	perms    []Permission
	subjects []string
}

// tokenSet is an immutable snapshot of the tokens: Verify reads it without
// a lock; Create and Revoke replace it.
type tokenSet struct {
	byName map[string]*apiToken
	byHash map[[sha256.Size]byte]*apiToken
}

// APITokens is the store of API tokens, kept as one JSON object in a
// cache.Store: OpenStoredAPITokens puts it in nora's store, where every
// instance that shares the store sees the same tokens; OpenAPITokens in a
// local file. It is a TokenVerifier; AddVerifier makes Authenticate accept
// its tokens. Create and Revoke rewrite the object with cache.Update, so
// writers on different instances never drop each other's tokens; the
// tokens in memory are checked against the object at most once every
// CheckEvery (apitoken_store.go).
type APITokens struct {
	store cache.Store
	key   string
	life  context.Context // checks and writes run in it: callers have no context
	now   func() time.Time
	set   atomic.Pointer[tokenSet]
	mu    sync.Mutex // serialises Create and Revoke

	checks  singleflight.Group
	checked atomic.Int64 // s.now() of the last check, unix nanoseconds
	verMu   sync.Mutex
	ver     string // version of the object set was read from; "" unknown
	gen     uint64 // counts changes of set, so a slow reload never undoes a newer one
}

// OpenAPITokens loads the tokens of a local file; a missing file is no
// token. Only one nora uses such a store: a server keeps its tokens in
// its store (OpenStoredAPITokens).
func OpenAPITokens(file string) (*APITokens, error) {
	s := newAPITokens(context.Background(), fileStore{file: file}, file)
	if err := s.reload(s.life); err != nil {
		return nil, err
	}
	return s, nil
}

// SetClock makes s read the time from now: tests move it past an expiry.
func (s *APITokens) SetClock(now func() time.Time) { s.now = now }

func (t *apiToken) compile() error {
	if !validTokenName(t.Name) {
		return fmt.Errorf("bad name")
	}
	perms, err := ParsePermissions(t.Permissions)
	if err != nil {
		return err
	}
	t.perms, t.subjects = perms, []string{t.Name}
	return nil
}

func (set *tokenSet) add(t *apiToken, h [sha256.Size]byte) {
	set.byName[t.Name] = t
	set.byHash[h] = t
}

// validTokenName allows what is safe in a URL path segment, a log line and
// a rule's subject: letters, digits, '.', '_', '-', starting with a letter
// or digit.
func validTokenName(s string) bool {
	if s == "" || len(s) > maxTokenName {
		return false
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Create makes a token named name with perms (at least one, each
// ParsePermission's form), expiring after ttl (0: never), and returns its
// secret, which is not kept and cannot be shown again. A name in use is a
// fault.Conflict, a bad name or permission a fault.Invalid.
func (s *APITokens) Create(name string, perms []string, ttl time.Duration) (string, APITokenInfo, error) {
	if !validTokenName(name) {
		return "", APITokenInfo{}, fault.Newf(fault.Invalid,
			"token name %q: want 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit", name, maxTokenName)
	}
	if len(perms) == 0 {
		return "", APITokenInfo{}, fault.New(fault.Invalid, "a token needs at least one permission (ACTION:GLOB or ACTION:FORMAT:GLOB)")
	}
	if ttl < 0 {
		return "", APITokenInfo{}, fault.New(fault.Invalid, "a token's lifetime cannot be negative")
	}
	var secret [32]byte
	rand.Read(secret[:]) // never fails (crypto/rand)
	text := APITokenPrefix + tokenText.EncodeToString(secret[:])
	hash := sha256.Sum256([]byte(text))
	var gen [8]byte
	rand.Read(gen[:])
	now := s.now().UTC().Truncate(time.Second)
	t := &apiToken{APITokenInfo: APITokenInfo{Name: name, Permissions: slices.Clone(perms), CreatedAt: now},
		Hash: hex.EncodeToString(hash[:]), Gen: binary.BigEndian.Uint64(gen[:]) | 1}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := t.compile(); err != nil {
		return "", APITokenInfo{}, fault.Wrap(fault.Invalid, err, err.Error())
	}
	err := s.change(func(set *tokenSet) error {
		if _, ok := set.byName[name]; ok {
			return fault.Newf(fault.Conflict, "a token named %q exists; revoke it first", name)
		}
		set.add(t, hash)
		return nil
	})
	if err != nil {
		return "", APITokenInfo{}, err
	}
	return text, t.info(), nil
}

func (t *apiToken) info() APITokenInfo {
	i := t.APITokenInfo
	i.Permissions = slices.Clone(i.Permissions)
	return i
}

// List returns every token, expired ones included, by name.
func (s *APITokens) List() []APITokenInfo {
	set := s.current()
	out := make([]APITokenInfo, 0, len(set.byName))
	for _, t := range set.byName {
		out = append(out, t.info())
	}
	slices.SortFunc(out, func(a, b APITokenInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Revoke removes the token named name: from the next request on, it and
// the registry tokens issued for it are refused by this instance, and by
// the others sharing the store within CheckEvery. An unknown name is a
// fault.NotFound.
func (s *APITokens) Revoke(name string) error {
	return s.change(func(set *tokenSet) error {
		t, ok := set.byName[name]
		if !ok {
			return fault.Newf(fault.NotFound, "no token named %q", name)
		}
		delete(set.byName, name)
		for h, v := range set.byHash {
			if v == t {
				delete(set.byHash, h)
			}
		}
		return nil
	})
}

func (s *APITokens) expired(t *apiToken) bool {
	return !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt)
}

// Verify implements TokenVerifier: ErrNotMine for anything without
// APITokenPrefix, ErrUnknownAPIToken or ErrTokenExpired for a token it
// cannot take.
func (s *APITokens) Verify(tok string) (*Identity, error) {
	if !strings.HasPrefix(tok, APITokenPrefix) {
		return nil, ErrNotMine
	}
	if len(tok) > maxTokenBytes {
		return nil, ErrUnknownAPIToken
	}
	t, ok := s.current().byHash[sha256.Sum256([]byte(tok))]
	if !ok {
		return nil, ErrUnknownAPIToken
	}
	if s.expired(t) {
		return nil, ErrTokenExpired
	}
	return &Identity{Name: t.Name, Kind: APIToken, Subjects: t.subjects, Limit: t.perms,
		Actor: "token " + t.Name, gen: t.Gen}, nil
}

// Active reports whether some token is unexpired: writes are possible
// through tokens even without an htpasswd file.
func (s *APITokens) Active() bool {
	for _, t := range s.current().byName {
		if !s.expired(t) {
			return true
		}
	}
	return false
}

// Current reports whether id is an API token that still exists, is the
// same token it was (not one re-created under its name) and has not
// expired. Allowed asks it on every request, so a revocation or an expiry
// also ends the registry tokens issued for id.
func (s *APITokens) Current(id *Identity) bool {
	if id == nil || id.Kind != APIToken {
		return false
	}
	t, ok := s.current().byName[id.Name]
	return ok && t.Gen == id.gen && !s.expired(t)
}
