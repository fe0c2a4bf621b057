// Package auth decides who may do what: identities (htpasswd users for now;
// API tokens and OIDC later) and permissions. Format handlers see only the
// small Authorizer port.
package auth

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
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
)

// Identity is an authenticated caller.
type Identity struct {
	Name string
}

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

// Local is the Authorizer of users from an htpasswd file.
type Local struct {
	cfg Config

	mu    sync.RWMutex
	users map[string][]byte // name -> bcrypt hash

	// bcrypt costs ~50 ms a check and clients send credentials with every
	// request of a push: remember good ones briefly, by hash only.
	verified *ristretto.Cache[string, string]
}

// New loads the htpasswd file, if configured.
func New(cfg Config) (*Local, error) {
	vc, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 10_000, MaxCost: 1_000, BufferItems: 64})
	if err != nil {
		return nil, err
	}
	l := &Local{cfg: cfg, verified: vc, users: map[string][]byte{}}
	if err := l.Reload(); err != nil {
		vc.Close()
		return nil, err
	}
	return l, nil
}

// Reload rereads the htpasswd file (SIGHUP).
func (l *Local) Reload() error {
	users := map[string][]byte{}
	if l.cfg.Htpasswd != "" {
		var err error
		if users, err = readHtpasswd(l.cfg.Htpasswd); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.users = users
	l.mu.Unlock()
	l.verified.Clear()
	return nil
}

// Close releases the verification cache.
func (l *Local) Close() { l.verified.Close() }

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
		if !ok || user == "" || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash (htpasswd -B)", path, n)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read htpasswd: %w", err)
	}
	return users, nil
}

func (l *Local) Authenticate(user, pass string) (*Identity, error) {
	sum := sha256.Sum256([]byte(user + "\x00" + pass))
	key := string(sum[:])
	if name, ok := l.verified.Get(key); ok {
		return &Identity{Name: name}, nil
	}
	l.mu.RLock()
	hash, ok := l.users[user]
	l.mu.RUnlock()
	if !ok {
		// Spend the same time as a real check, so user names do not leak.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return nil, ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return nil, ErrBadCredentials
	}
	l.verified.SetWithTTL(key, user, 1, 5*time.Minute)
	return &Identity{Name: user}, nil
}

// dummyHash is a bcrypt hash (cost 10) of a random string, computed once
// offline so start-up does not pay for it.
var dummyHash = []byte("$2a$10$nZ66KlOFIV0aqJmiZcCwlueTIM4pT02IuLfjQJV3BSv/RVQwhUT7K")

func (l *Local) Allowed(id *Identity, action Action, format, name string) bool {
	if action == Pull {
		return l.cfg.AnonymousRead || id != nil
	}
	return id != nil
}

func (l *Local) WritesEnabled() bool { return l.cfg.Htpasswd != "" }
