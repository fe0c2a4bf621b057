package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nora/cache"
)

// tokenFile is the JSON of the token store.
type tokenFile struct {
	Tokens []*apiToken `json:"tokens"`
}

// maxTokenFile bounds what a token store reads.
const maxTokenFile = 16 << 20

func newTokenSet() *tokenSet {
	return &tokenSet{byName: map[string]*apiToken{}, byHash: map[[sha256.Size]byte]*apiToken{}}
}

// loadTokens reads a local token file; a missing one is no token.
func loadTokens(file string) ([]*apiToken, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the API tokens: %w", err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("cannot read the API tokens: %s is larger than %d bytes", file, maxTokenFile)
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cannot read the API tokens in %s: %w", file, err)
	}
	return f.Tokens, nil
}

// decodeTokens parses a stored token object (nil: none) read from what.
func decodeTokens(b []byte, what string) (*tokenSet, error) {
	if b == nil {
		return newTokenSet(), nil
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cannot read the API tokens in %s: %w", what, err)
	}
	return parseTokens(f.Tokens, what)
}

// parseTokens checks stored tokens and indexes them.
func parseTokens(toks []*apiToken, what string) (*tokenSet, error) {
	set := newTokenSet()
	for _, t := range toks {
		if err := t.compile(); err != nil {
			return nil, fmt.Errorf("%s: token %q: %w", what, t.Name, err)
		}
		if !set.addStored(t) {
			return nil, fmt.Errorf("%s: token %q: bad sha256", what, t.Name)
		}
	}
	return set, nil
}

// addStored adds a stored token by its hash; false if the hash is not
// one.
func (set *tokenSet) addStored(t *apiToken) bool {
	h, err := hex.DecodeString(t.Hash)
	if err != nil || len(h) != sha256.Size {
		return false
	}
	set.add(t, [sha256.Size]byte(h))
	return true
}

// encodeTokens is the stored JSON of set, by name.
func encodeTokens(set *tokenSet) ([]byte, error) {
	var f tokenFile
	for _, t := range set.byName {
		f.Tokens = append(f.Tokens, t)
	}
	slices.SortFunc(f.Tokens, func(a, b *apiToken) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode the API tokens: %w", err)
	}
	return append(b, '\n'), nil
}

// fileStore is a cache.Store of one local file, whatever the key: the
// token store of OpenAPITokens. Writes are atomic and durable, mode 0600:
// the hashes are not secrets, but the names and permissions are nobody
// else's business.
type fileStore struct{ file string }

func (f fileStore) Stat(_ context.Context, _ string) (cache.Info, error) {
	fi, err := os.Stat(f.file)
	if errors.Is(err, fs.ErrNotExist) {
		return cache.Info{}, cache.ErrNotFound
	}
	if err != nil {
		return cache.Info{}, err
	}
	return cache.Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (f fileStore) Get(_ context.Context, _ string, offset int64) (io.ReadCloser, cache.Info, error) {
	b, err := os.ReadFile(f.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, cache.Info{}, cache.ErrNotFound
	}
	if err != nil {
		return nil, cache.Info{}, err
	}
	return io.NopCloser(bytes.NewReader(b[min(offset, int64(len(b))):])), cache.Info{Size: int64(len(b))}, nil
}

func (f fileStore) Delete(_ context.Context, _ string) error {
	if err := os.Remove(f.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Put writes a temp file, synced, renames it over the old one and syncs
// the directory, so that a power cut leaves the old tokens or the new
// ones, never half a file.
func (f fileStore) Put(_ context.Context, _ string, r io.Reader) (err error) {
	dir := filepath.Dir(f.file)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".api-tokens-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), f.file); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
