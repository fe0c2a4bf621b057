package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"nora/cache"
)

// APITokensKey is the token object's key in nora's store.
const APITokensKey = "state/api-tokens.json"

// CheckEvery is how often, at most, a token store looks at its object for
// tokens created or revoked by another nora instance sharing the store: a
// revocation on one instance is refused by the others within CheckEvery.
// A check is one read of the object, made by the first request after
// CheckEvery has passed; requests at the same moment wait for that one.
const CheckEvery = time.Second

// checkTimeout bounds one check or write: the request that waits for it
// has no context to hand down.
const checkTimeout = 30 * time.Second

// OpenStoredAPITokens opens the tokens kept in store under APITokensKey,
// which every instance sharing the store uses alike. Checks and writes
// run in ctx, the server's lifetime. The first open imports the tokens of
// the local file legacy, where an older nora kept them, then renames it
// to legacy+".imported"; a token whose name the store already holds keeps
// the stored one.
func OpenStoredAPITokens(ctx context.Context, store cache.Store, legacy string) (*APITokens, error) {
	s := newAPITokens(ctx, store, APITokensKey)
	if err := s.importFile(legacy); err != nil {
		return nil, err
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newAPITokens(ctx context.Context, store cache.Store, key string) *APITokens {
	s := &APITokens{store: store, key: key, life: ctx, now: time.Now}
	s.set.Store(newTokenSet())
	return s
}

// importFile moves the tokens of a local file into the store.
func (s *APITokens) importFile(file string) error {
	toks, err := loadTokens(file)
	if err != nil || toks == nil {
		return err
	}
	if _, err := parseTokens(toks, file); err != nil {
		return err
	}
	err = s.change(func(set *tokenSet) error {
		for _, t := range toks {
			if _, ok := set.byName[t.Name]; !ok {
				set.addStored(t)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot import the API tokens of %s: %w", file, err)
	}
	if err := os.Rename(file, file+".imported"); err != nil {
		return fmt.Errorf("cannot import the API tokens of %s: %w", file, err)
	}
	return nil
}

// current returns the tokens, first reading the object again if it
// changed and CheckEvery has passed since the last look. A store that
// does not answer leaves the tokens as they are (and is logged).
func (s *APITokens) current() *tokenSet {
	if s.due() {
		s.checks.Do("", func() (any, error) {
			if !s.due() { // a check just finished
				return nil, nil
			}
			ctx, cancel := context.WithTimeout(s.life, checkTimeout)
			defer cancel()
			if err := s.reload(ctx); err != nil {
				slog.Warn("cannot check the API tokens", "err", err)
			}
			return nil, nil
		})
	}
	return s.set.Load()
}

// due reports whether CheckEvery has passed since the last check (or the
// clock went back).
func (s *APITokens) due() bool {
	now, last := s.now().UnixNano(), s.checked.Load()
	return now-last >= int64(CheckEvery) || now < last
}

// reload reads the object and, if its version is not the one in memory,
// replaces the tokens with it.
func (s *APITokens) reload(ctx context.Context) error {
	s.checked.Store(s.now().UnixNano())
	s.verMu.Lock()
	gen, have := s.gen, s.ver
	s.verMu.Unlock()
	b, ver, err := cache.ReadIfChanged(ctx, s.store, s.key, maxTokenFile, have)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		b, ver = nil, "none"
	case err != nil:
		return fmt.Errorf("cannot read the API tokens: %w", err)
	case ver == have:
		return nil
	}
	set, err := decodeTokens(b, s.key)
	if err != nil {
		return err
	}
	s.install(set, ver, gen)
	return nil
}

// install makes set the tokens in memory unless another change came
// first (gen moved on).
func (s *APITokens) install(set *tokenSet, ver string, gen uint64) {
	s.verMu.Lock()
	defer s.verMu.Unlock()
	if s.gen == gen {
		s.set.Store(set)
		s.ver = ver
		s.gen++
	}
}

// change applies fn to the stored tokens with cache.Update and takes the
// result into memory. fn may run again on a newer object when another
// instance wrote it in between; an error of fn comes back as it is.
func (s *APITokens) change(fn func(set *tokenSet) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.life, checkTimeout)
	defer cancel()
	var set *tokenSet
	var fnErr error
	err := cache.Update(ctx, s.store, s.key, maxTokenFile, func(old []byte) ([]byte, error) {
		if set, fnErr = decodeTokens(old, s.key); fnErr != nil {
			return nil, fnErr
		}
		if fnErr = fn(set); fnErr != nil {
			return nil, fnErr
		}
		return encodeTokens(set)
	})
	switch {
	case err == nil:
		// Newer than anything a check could be installing: the stored
		// version is unknown, so the next check reads the object.
		s.verMu.Lock()
		s.set.Store(set)
		s.ver = ""
		s.gen++
		s.verMu.Unlock()
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr
	default:
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
}
