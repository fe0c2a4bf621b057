package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// indexFile is the cache's index in the storage path (cache.New).
const indexFile = "index.db"

// notState are the top-level names of a storage path that are no state
// of their own: the disk store's objects and temp files, the S3 spool,
// the index (rebuilt from the store at start, also when it was moved
// aside as damaged), the admin socket, and what belongs to the running
// box rather than to its content: the webhook queue (a restored box must
// not send old events again) and the web UI's traffic statistics.
var notState = map[string]bool{
	"objects": true, "tmp": true, "spool": true,
	indexFile: true, indexFile + ".damaged": true, "admin.sock": true,
	"webhooks.db": true, "ui-stats.json": true,
}

// tempPrefix starts the names of the temp files this package writes into
// a storage path; they are never state.
const tempPrefix = ".nora-transfer-"

// LocalFile is a state file of a storage path.
type LocalFile struct {
	Rel  string // slash separated, relative to the storage path
	Size int64
	Mode fs.FileMode
}

// LocalFiles lists the state files under root: every regular file except
// what notState names (whatever the other engineers' state files are
// called, a site CA under tls/, a hosted.db, an api-tokens.json, they are
// copied as they are). A directory named skip (the other side's storage
// path, when it lies inside root) is left out. A missing root has none.
func LocalFiles(root, skip string) ([]LocalFile, error) {
	skipAbs, _ := filepath.Abs(skip)
	var files []LocalFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if (!strings.Contains(rel, string(filepath.Separator)) && notState[rel]) || strings.HasPrefix(d.Name(), tempPrefix) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(p); skip != "" && abs == skipAbs {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // sockets, links: no state
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, LocalFile{Rel: filepath.ToSlash(rel), Size: fi.Size(), Mode: fi.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the state files of %s: %w", root, err)
	}
	return files, nil
}

// copyLocal copies one state file unless to holds it with the same
// bytes; the copy keeps the file's mode (a private key stays private).
func copyLocal(from, to string, f LocalFile, dry bool) Event {
	e := Event{File: f.Rel, Size: f.Size}
	src := filepath.Join(from, filepath.FromSlash(f.Rel))
	dst := filepath.Join(to, filepath.FromSlash(f.Rel))
	fail := func(err error) Event {
		e.Action, e.Err = Failed, err.Error()
		return e
	}
	ssum, err := hashFile(src)
	if err != nil {
		return fail(err)
	}
	if dsum, err := hashFile(dst); err == nil && dsum == ssum {
		e.Action = Skipped
		return e
	}
	if dry {
		e.Action = WouldCopy
		return e
	}
	in, err := os.Open(src)
	if err != nil {
		return fail(err)
	}
	defer in.Close()
	if err := mkdirs(from, to, filepath.Dir(filepath.FromSlash(f.Rel))); err != nil {
		return fail(err)
	}
	if err := writeFileAtomic(dst, newHashReader(in, f.Rel, ssum, -1), f.Mode); err != nil {
		return fail(err)
	}
	if dsum, err := hashFile(dst); err != nil || dsum != ssum {
		os.Remove(dst)
		return fail(fmt.Errorf("%s: the copy does not read back as written: %w", f.Rel, errors.Join(err, ErrDamaged)))
	}
	e.Action = Copied
	return e
}

// mkdirs creates the directories of rel under to, each with the mode its
// counterpart under from has (tls/ stays private), 0750 if none.
func mkdirs(from, to, rel string) error {
	if rel == "." || rel == "" {
		return os.MkdirAll(to, 0o750)
	}
	if err := mkdirs(from, to, filepath.Dir(rel)); err != nil {
		return err
	}
	mode := fs.FileMode(0o750)
	if from != "" {
		if fi, err := os.Stat(filepath.Join(from, rel)); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	err := os.Mkdir(filepath.Join(to, rel), mode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// writeFileAtomic writes r to path through a temp file beside it: synced,
// given mode, renamed; the directory synced. A reader error leaves
// nothing.
func writeFileAtomic(path string, r io.Reader, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// hashFile returns the sha256 of the file at path.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
