// Package disk is the Store adapter for a local filesystem. Objects live
// under <root>/objects/<key>; fills and uploads write temp files under
// <root>/tmp on the same filesystem and are adopted by rename.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"nora/cache"
)

// Store keeps objects as files. It implements cache.Store, cache.FileOpener,
// cache.FileAdopter, cache.Lister, cache.SpaceReporter and cache.Swapper. An object that
// is removed while a reader streams it stays readable to the end: the open
// file keeps its bytes, and the space returns when the reader closes it.
type Store struct {
	objects string
	tmp     string
	swapMu  sync.Mutex // orders PutIf
	// rounds share syncs between the commits that land together
	// (groupsync.go).
	rounds syncRounds
}

// Open prepares root and removes temp files left by a process that died
// mid-write: they were never visible, and nothing else owns them.
func Open(root string) (*Store, error) {
	s := &Store{objects: filepath.Join(root, "objects"), tmp: filepath.Join(root, "tmp")}
	s.rounds.dir = s.objects
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("cannot clear temp dir %s: %w", s.tmp, err)
	}
	for _, d := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	return s, nil
}

func (s *Store) path(key string) (string, error) {
	if err := cache.CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.objects, filepath.FromSlash(key)), nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return cache.ErrNotFound
	}
	return err
}

func (s *Store) Stat(_ context.Context, key string) (cache.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return cache.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return cache.Info{}, notFound(err)
	}
	return cache.Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (s *Store) OpenFile(key string) (*os.File, cache.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, cache.Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, cache.Info{}, notFound(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, cache.Info{}, err
	}
	return f, cache.Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (s *Store) Get(_ context.Context, key string, offset int64) (io.ReadCloser, cache.Info, error) {
	f, info, err := s.OpenFile(key)
	if err != nil {
		return nil, info, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, info, err
		}
	}
	return f, info, nil
}

// Put writes r to a temp file, syncs it and renames it into place.
func (s *Store) Put(_ context.Context, key string, r io.Reader) error {
	if _, err := s.path(key); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("cannot create temp file: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot write %s: %w", key, err)
	}
	return s.Adopt(f, key)
}

func (s *Store) TempDir() string { return s.tmp }

// Adopt makes the finished temp file durable through the open tmp,
// renames it to key and makes the rename durable, so a power cut leaves
// either nothing or the whole object. The caller still closes tmp.
//
// A small object's two syncs are rounds shared with the commits around
// it (groupsync.go); a large one syncs its own bytes, which take longer to
// write out than a round is worth waiting for.
func (s *Store) Adopt(tmp *os.File, key string) (err error) {
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := s.syncData(tmp); err != nil {
		return fmt.Errorf("cannot sync %s: %w", key, err)
	}
	if err := rename(tmp.Name(), p); errors.Is(err, fs.ErrNotExist) {
		// A new directory: the round after the rename makes it durable
		// with the rename.
		dir := filepath.Dir(p)
		if err := mkdirs(dir); err != nil {
			return fmt.Errorf("cannot create %s: %w", dir, err)
		}
		if err := rename(tmp.Name(), p); err != nil {
			return fmt.Errorf("cannot commit %s: %w", key, err)
		}
	} else if err != nil {
		return fmt.Errorf("cannot commit %s: %w", key, err)
	}
	if err := s.rounds.sync(); err != nil {
		return fmt.Errorf("cannot sync dir of %s: %w", key, err)
	}
	return nil
}

// rename is rename(2) without os.Rename's look at newpath first (it
// refuses to replace a directory; keys never name one): a cold fill
// commits four objects per package, each a path walk fewer.
func rename(oldpath, newpath string) error {
	if err := unix.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// mkdirs is os.MkdirAll for the store's directories, most of which are
// new leaves of existing ones: it asks mkdir(2) first instead of
// stat'ing every missing level.
func mkdirs(dir string) error {
	err := unix.Mkdir(dir, 0o750)
	if errors.Is(err, unix.ENOENT) {
		if err := mkdirs(filepath.Dir(dir)); err != nil {
			return err
		}
		err = unix.Mkdir(dir, 0o750)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// groupMax is the largest object whose bytes wait for a shared round.
const groupMax = 1 << 20

// syncData makes tmp's bytes durable: by a round if it is small, else by
// its own fsync.
func (s *Store) syncData(tmp *os.File) error {
	if fi, err := tmp.Stat(); err == nil && fi.Size() <= groupMax {
		return s.rounds.sync()
	}
	return tmp.Sync()
}

func (s *Store) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return notFound(err)
	}
	return nil
}

// List walks the object files under prefix (a key prefix ending in "/").
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, info cache.Info) error) error {
	root := filepath.Join(s.objects, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return ctx.Err()
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed since the directory was read
		}
		rel, err := filepath.Rel(s.objects, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), cache.Info{Size: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("cannot list %s: %w", prefix, err)
	}
	return nil
}

// Space reports the free (for unprivileged users) and total bytes of the
// filesystem that holds the objects.
func (s *Store) Space() (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.objects, &st); err != nil {
		return 0, 0, fmt.Errorf("cannot statfs %s: %w", s.objects, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}
