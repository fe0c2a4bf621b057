// Package auth decides who may do what: identities (htpasswd users and
// their groups, API tokens, OIDC tokens) and the permissions [[auth.rules]]
// grant them. Format handlers see only the small Authorizer port.
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/crypto/bcrypt"
)

// Action is what a request wants to do.
type Action string

const (
	Pull   Action = "pull"
	Push   Action = "push"
	Delete Action = "delete"
	// Admin implies every action, and the admin API.
	Admin Action = "admin"
)

// Authorizer is the port format handlers use.
type Authorizer interface {
	// Authenticate checks a user name and password (or token).
	Authenticate(user, pass string) (*Identity, error)
	// Allowed says whether id (nil: anonymous) may do action on name in
	// format ("docker", "npm", ...).
	Allowed(id *Identity, action Action, format, name string) bool
	// WritesEnabled is false when no one can ever write (no user source).
	WritesEnabled() bool
}

// ErrBadCredentials is returned for an unknown user or a wrong password.
var ErrBadCredentials = errors.New("invalid user name or password")

// Local is the Authorizer of users from an htpasswd file, of the tokens
// its verifiers vouch for, and of the rules and groups that say what each
// may do.
type Local struct {
	cfg Config

	mu    sync.RWMutex
	users map[string]entry
	loads uint64 // successful loads of the file so far
	// dummy is checked for unknown users, at the cost most entries use, so
	// that failures take the same time whether or not the user exists.
	dummy []byte

	// bcrypt costs ~50 ms a check and clients send credentials with every
	// request of a push: remember good ones briefly, by hash only, with the
	// generation of the entry they matched. A hit counts only while that
	// entry is current, so a reload revokes at once, even a login whose
	// check was under way while the file changed.
	verified *ristretto.Cache[string, uint64]

	// verifiers check the tokens clients send instead of passwords.
	verifiers atomic.Pointer[[]TokenVerifier]

	// rules are [[auth.rules]] and [auth.groups] as loaded with the users;
	// decided caches Allowed's answers for them.
	rules   atomic.Pointer[ruleSet]
	decided *decisions
}

// AddVerifier makes Authenticate accept the tokens v verifies, as the
// password of any user name (and Credentials as Bearer or raw tokens).
// Call it before serving.
func (l *Local) AddVerifier(v TokenVerifier) {
	old := l.verifiers.Load()
	var vs []TokenVerifier
	if old != nil {
		vs = append(vs, *old...)
	}
	vs = append(vs, v)
	l.verifiers.Store(&vs)
}

// verifyToken asks each verifier about pass; ErrNotMine from all of them
// means pass is no token.
func (l *Local) verifyToken(pass string) (*Identity, error) {
	vs := l.verifiers.Load()
	if vs == nil {
		return nil, ErrNotMine
	}
	for _, v := range *vs {
		id, err := v.Verify(pass)
		if !errors.Is(err, ErrNotMine) {
			return id, err
		}
	}
	return nil, ErrNotMine
}

// entry is one user of the file.
type entry struct {
	hash []byte
	gen  uint64 // the load that first saw this hash
}

// New loads the htpasswd file, if configured, and compiles the rules.
func New(cfg Config) (*Local, error) {
	vc, err := ristretto.NewCache(&ristretto.Config[string, uint64]{NumCounters: 10_000, MaxCost: 1_000, BufferItems: 64})
	if err != nil {
		return nil, err
	}
	dc, err := newDecisions()
	if err != nil {
		vc.Close()
		return nil, err
	}
	l := &Local{cfg: cfg, verified: vc, users: map[string]entry{}, decided: dc}
	if err := l.Reload(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Reload rereads the htpasswd file (SIGHUP). Users whose entry is
// unchanged stay logged in; identities and tokens of removed users, and
// logins with a replaced password, stop working at once.
func (l *Local) Reload() error {
	l.mu.RLock()
	cfg := l.cfg
	l.mu.RUnlock()
	return l.ReloadRules(cfg)
}

// ReloadRules is Reload taking [auth.groups] and [[auth.rules]] from cfg
// as well (SIGHUP): they apply to every identity from then on, those
// authenticated before included. The htpasswd path and anonymous_read stay
// those New had. When the file cannot be read or a rule does not compile,
// nothing changes.
func (l *Local) ReloadRules(cfg Config) error {
	hashes := map[string][]byte{}
	if l.cfg.Htpasswd != "" {
		var err error
		if hashes, err = readHtpasswd(l.cfg.Htpasswd); err != nil {
			return err
		}
	}
	dummy, err := dummyHash(hashes)
	if err != nil {
		return err
	}
	rules, err := compileRules(cfg)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.cfg.Groups, l.cfg.Rules = cfg.Groups, cfg.Rules
	l.loads++
	rules.gen = l.loads
	l.rules.Store(rules)
	users := make(map[string]entry, len(hashes))
	for name, h := range hashes {
		e := entry{hash: h, gen: l.loads}
		if old, ok := l.users[name]; ok && bytes.Equal(old.hash, h) {
			e.gen = old.gen
		}
		users[name] = e
	}
	l.users, l.dummy = users, dummy
	l.mu.Unlock()
	l.verified.Clear() // stale entries could not hit anyway; free them
	l.decided.clear()  // likewise: their generation is gone
	return nil
}

// Close releases the caches.
func (l *Local) Close() {
	l.verified.Close()
	l.decided.close()
}

func readHtpasswd(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read htpasswd: %w", err)
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || !wellFormed([]byte(hash)) {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash (htpasswd -B)", path, n)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read htpasswd: %w", err)
	}
	return users, nil
}

// bcryptAlphabet is bcrypt's base64 alphabet, of its salt and hash.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// wellFormed reports whether h is a bcrypt hash a check spends its full
// cost on: bcrypt refuses a short hash or a bad salt before the expensive
// part, and such a user would fail faster than an unknown one.
func wellFormed(h []byte) bool {
	const size = 60 // "$2b$05$" + 22 characters of salt + 31 of hash
	if len(h) != size || !bytes.HasPrefix(h, []byte("$2")) {
		return false
	}
	if _, err := bcrypt.Cost(h); err != nil {
		return false
	}
	for _, c := range h[size-53:] {
		if strings.IndexByte(bcryptAlphabet, c) < 0 {
			return false
		}
	}
	return true
}

// defaultDummy is a bcrypt hash (cost 10, bcrypt.DefaultCost) of a random
// string, computed once offline so that start-up does not pay for it.
var defaultDummy = []byte("$2a$10$nZ66KlOFIV0aqJmiZcCwlueTIM4pT02IuLfjQJV3BSv/RVQwhUT7K")

// dummyHash returns a hash of a random password at the cost most users'
// hashes have (the higher one on a tie; bcrypt.DefaultCost for none).
// htpasswd -B writes cost 5, and a dummy of another cost would tell an
// unknown user from a wrong password by the time the answer takes. Users
// at a cost other than the common one remain apart; a file hashed with one
// cost has none.
func dummyHash(users map[string][]byte) ([]byte, error) {
	count := map[int]int{}
	cost := bcrypt.DefaultCost
	for _, h := range users {
		c, _ := bcrypt.Cost(h) // readHtpasswd checked it
		count[c]++
		if count[c] > count[cost] || (count[c] == count[cost] && c > cost) {
			cost = c
		}
	}
	if cost == bcrypt.DefaultCost {
		return defaultDummy, nil
	}
	pw := make([]byte, 32)
	rand.Read(pw) // never fails (crypto/rand)
	h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw)), cost)
	if err != nil {
		return nil, fmt.Errorf("cannot make the dummy hash: %w", err)
	}
	return h, nil
}

// DummyCost is the bcrypt cost an unknown user's check spends.
func (l *Local) DummyCost() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	c, _ := bcrypt.Cost(l.dummy)
	return c
}

func (l *Local) Authenticate(user, pass string) (*Identity, error) {
	if id, err := l.verifyToken(pass); !errors.Is(err, ErrNotMine) {
		if err != nil {
			return nil, ErrBadCredentials
		}
		return id, nil
	}
	// The user name's length first: "a"+"b\x00c" and "a\x00b"+"c" differ.
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(user)))
	sum := sha256.Sum256([]byte(string(n[:]) + user + pass))
	key := string(sum[:])
	l.mu.RLock()
	e, ok := l.users[user]
	dummy := l.dummy
	l.mu.RUnlock()
	if gen, hit := l.verified.Get(key); hit && ok && gen == e.gen {
		return l.userIdentity(user, e.gen), nil
	}
	if !ok {
		bcrypt.CompareHashAndPassword(dummy, []byte(pass))
		return nil, ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword(e.hash, []byte(pass)) != nil {
		return nil, ErrBadCredentials
	}
	l.verified.SetWithTTL(key, e.gen, 1, 5*time.Minute)
	return l.userIdentity(user, e.gen), nil
}

// userIdentity is the Identity of an htpasswd user: the user and its
// groups as subjects. Allowed reads a user's groups as loaded when it
// decides, so a reload that changes them applies to this identity too.
func (l *Local) userIdentity(user string, gen uint64) *Identity {
	return &Identity{Name: user, Kind: User, Subjects: l.rules.Load().subjectsOf(user), Actor: user, gen: gen}
}

// current reports whether id is a user of the file as loaded now, with
// the entry it was authenticated against.
func (l *Local) current(id *Identity) bool {
	l.mu.RLock()
	e, ok := l.users[id.Name]
	l.mu.RUnlock()
	return ok && id.gen != 0 && e.gen == id.gen
}

// Allowed checks id against the users, groups and rules as they are now.
// An identity that is no longer live (a user removed, or its password
// changed, since it logged in; a token revoked or expired) is anonymous.
// Otherwise see ruleSet.decide; anonymous_read lets every pull through.
func (l *Local) Allowed(id *Identity, action Action, format, name string) bool {
	if action == Pull && l.cfg.AnonymousRead {
		return true
	}
	if id == nil || !l.live(id) {
		return false
	}
	r := l.rules.Load()
	if !r.any && id.Kind == User && id.Limit == nil {
		return true // no rules: today's behaviour, and no need to cache
	}
	key, check := l.decided.hashes(r.gen, id, action, format, name)
	if allowed, ok := l.decided.get(key, check); ok {
		return allowed
	}
	allowed := r.decide(id, action, format, name)
	l.decided.set(key, check, allowed)
	return allowed
}

// live reports whether id still stands: a user must be current; a token
// must be current for one of the verifiers that can tell (Current).
func (l *Local) live(id *Identity) bool {
	if id.Kind == User {
		return l.current(id)
	}
	vs := l.verifiers.Load()
	if vs == nil {
		return false
	}
	for _, v := range *vs {
		if c, ok := v.(interface{ Current(*Identity) bool }); ok && c.Current(id) {
			return true
		}
	}
	return false
}

// WritesEnabled is true with an htpasswd file, or when a verifier says
// it has identities to vouch for (Active: API tokens exist, OIDC
// providers are configured).
func (l *Local) WritesEnabled() bool {
	if l.cfg.Htpasswd != "" {
		return true
	}
	vs := l.verifiers.Load()
	if vs == nil {
		return false
	}
	for _, v := range *vs {
		if a, ok := v.(interface{ Active() bool }); ok && a.Active() {
			return true
		}
	}
	return false
}

// Anonymous is the Authorizer of a nora with no user source: reads for
// everyone, no writes. Handlers built without an Authorizer use it.
type Anonymous struct{}

func (Anonymous) Authenticate(string, string) (*Identity, error)  { return nil, ErrBadCredentials }
func (Anonymous) Allowed(_ *Identity, a Action, _, _ string) bool { return a == Pull }
func (Anonymous) WritesEnabled() bool                             { return false }
