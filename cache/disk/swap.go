package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"nora/cache"
)

// version names one write of a file: a rename puts a new inode in place,
// and size and mtime tell rewrites of a reused inode apart.
func version(fi os.FileInfo) string {
	ino := uint64(0)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return strconv.FormatUint(ino, 36) + "-" + strconv.FormatInt(fi.Size(), 36) + "-" +
		strconv.FormatInt(fi.ModTime().UnixNano(), 36)
}

// ReadVersion reads key whole (at most max bytes) with its version.
func (s *Store) ReadVersion(_ context.Context, key string, max int64) ([]byte, string, error) {
	f, _, err := s.OpenFile(key)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if fi.Size() > max {
		return nil, "", fmt.Errorf("%s is larger than %d bytes", key, max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, "", fmt.Errorf("cannot read %s: %w", key, err)
	}
	return b, version(fi), nil
}

// PutIf writes b under key if it is still at version. One process opens a
// disk store, so the store's lock orders every PutIf.
func (s *Store) PutIf(ctx context.Context, key string, b []byte, ver string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if ver != "" {
			return cache.ErrChanged
		}
	case err != nil:
		return err
	case version(fi) != ver:
		return cache.ErrChanged
	}
	return s.Put(ctx, key, bytes.NewReader(b))
}

// Version is the version ReadVersion would give, by a stat.
func (s *Store) Version(_ context.Context, key string) (string, error) {
	p, err := s.path(key)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", notFound(err)
	}
	return version(fi), nil
}
