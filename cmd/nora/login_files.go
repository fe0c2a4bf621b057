package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxClientConfig bounds the read of a client's config file that nora login
// merges into: they are small, and a huge one is a mistake.
const maxClientConfig = 4 << 20

// readClientConfig returns the content of the file at path, nil when there
// is none. A symlink (dotfiles) is followed: the target is what is updated.
func readClientConfig(path string) (target string, b []byte, err error) {
	target = path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	f, err := os.Open(target)
	if errors.Is(err, fs.ErrNotExist) {
		return target, nil, nil
	}
	if err != nil {
		return target, nil, err
	}
	defer f.Close()
	b, err = io.ReadAll(io.LimitReader(f, maxClientConfig+1))
	if err == nil && len(b) > maxClientConfig {
		err = fmt.Errorf("%s is larger than %d bytes", target, maxClientConfig)
	}
	return target, b, err
}

// writeSecretFile replaces path with b, mode 0600 (the files hold a token),
// atomically: a job killed mid-write leaves the old file, never half a one.
// Missing parent directories are made 0700.
func writeSecretFile(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".nora-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod says so against a umask
	// or file system that thinks otherwise.
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// updateClientConfig reads path (following a symlink), lets edit merge
// into its content (nil: no file yet) and writes the result back 0600. It
// returns the path written.
func updateClientConfig(path string, edit func(old []byte) ([]byte, error)) (string, error) {
	target, old, err := readClientConfig(path)
	if err != nil {
		return target, fmt.Errorf("cannot read %s: %w", target, err)
	}
	b, err := edit(old)
	if err != nil {
		return target, fmt.Errorf("cannot update %s: %w", target, err)
	}
	if err := writeSecretFile(target, b); err != nil {
		return target, fmt.Errorf("cannot write %s: %w", target, err)
	}
	return target, nil
}
