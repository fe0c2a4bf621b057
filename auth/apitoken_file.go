package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// tokenFile is the JSON of the token store.
type tokenFile struct {
	Tokens []*apiToken `json:"tokens"`
}

// maxTokenFile bounds what loadTokens reads.
const maxTokenFile = 16 << 20

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

// save writes set to the file atomically: a temp file, synced, renamed
// over the old one, and the directory synced, so that a power cut leaves
// the old tokens or the new ones, never half a file. Mode 0600: the
// hashes are not secrets, but the names and permissions are nobody else's
// business.
func (s *APITokens) save(set *tokenSet) (err error) {
	var f tokenFile
	for _, t := range set.byName {
		f.Tokens = append(f.Tokens, t)
	}
	slices.SortFunc(f.Tokens, func(a, b *apiToken) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the API tokens: %w", err)
	}
	dir := filepath.Dir(s.file)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".api-tokens-*")
	if err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	if err = os.Rename(tmp.Name(), s.file); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("cannot save the API tokens: %w", err)
	}
	return nil
}
