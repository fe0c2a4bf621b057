package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"nora/cache"
	"nora/internal/fault"
)

// ErrNotEmpty is Restore's answer when the destination holds something
// and Force is not set.
var ErrNotEmpty = fault.New(fault.Conflict, "the destination is not empty")

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force restores over what the destination holds: objects and files
	// of the backup replace theirs, others stay.
	Force bool
	// Progress, if set, is called once per entry when it is committed.
	Progress func(Event)
}

// Restore reads a backup from r into to. Every entry is checked against
// its sha256 before it is committed: a content-addressed object as it
// streams into the store, anything else in a temp file under to's storage
// path. The rule for a backup that turns out truncated or damaged:
// content-addressed objects already checked are committed as they come
// (they are right whatever else fails, and unreferenced ones are GC's);
// every other object and every state file waits in the temp directory and
// is committed only once the end record matched, so none of them is
// restored from a broken backup. Unless Force, the destination must hold
// no object and no state file. At the end to's index file is removed: the
// next nora on it rebuilds it from the store.
func Restore(ctx context.Context, r io.Reader, to Side, o RestoreOptions) (Report, error) {
	if !o.Force {
		if err := checkEmpty(ctx, to); err != nil {
			return Report{}, err
		}
	}
	if err := os.MkdirAll(to.Path, 0o750); err != nil {
		return Report{}, err
	}
	stage, err := os.MkdirTemp(to.Path, tempPrefix+"restore-*")
	if err != nil {
		return Report{}, fmt.Errorf("cannot create a temp directory for the restore: %w", err)
	}
	defer os.RemoveAll(stage)
	defer removeIndex(to.Path)
	rs := &restorer{ctx: ctx, to: to, stage: stage, o: o}
	if err := readBackup(r, rs.entry); err != nil {
		return rs.rep, err
	}
	return rs.rep, rs.commit()
}

// checkEmpty refuses a destination that holds an object or a state file.
func checkEmpty(ctx context.Context, to Side) error {
	l, ok := to.Store.(cache.Lister)
	if !ok {
		return errors.New("the destination store cannot list its objects: cannot tell it is empty (use --force)")
	}
	stop := errors.New("found")
	var first string
	err := l.List(ctx, "", func(key string, _ cache.Info) error {
		first = key
		return stop
	})
	if err != nil && !errors.Is(err, stop) {
		return fmt.Errorf("cannot list the destination: %w", err)
	}
	if first == "" {
		files, err := LocalFiles(to.Path, "")
		if err != nil {
			return err
		}
		if len(files) > 0 {
			first = files[0].Rel + " in " + to.Path
		}
	}
	if first != "" {
		return fmt.Errorf("%w (it holds %s): restore into an empty one, or pass --force to restore over it", ErrNotEmpty, first)
	}
	return nil
}

// restorer commits the entries of one restore.
type restorer struct {
	ctx    context.Context
	to     Side
	stage  string
	o      RestoreOptions
	rep    Report
	staged []staged
}

// staged is an entry checked and waiting for the end record.
type staged struct {
	e    entry
	file string
}

func (rs *restorer) done(e entry) {
	ev := Event{Key: e.key, File: e.rel, Size: e.size, Action: Copied}
	rs.rep.add(ev)
	if rs.o.Progress != nil {
		rs.o.Progress(ev)
	}
}

// entry commits a content-addressed object as it streams (body fails
// the Put on a mismatch, so nothing is committed then) and stages
// anything else in a temp file.
func (rs *restorer) entry(e entry, body io.Reader) error {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	if want := blobDigest(e.key); want != "" {
		if want != e.sum {
			return fmt.Errorf("the backup's entry %s has the sha256 %s, not its name's: %w", e.name, e.sum, ErrDamaged)
		}
		if err := rs.to.Store.Put(rs.ctx, e.key, body); err != nil {
			return fmt.Errorf("cannot restore %s: %w", e.key, err)
		}
		rs.done(e)
		return nil
	}
	file := filepath.Join(rs.stage, strconv.Itoa(len(rs.staged)))
	if err := spool(file, body); err != nil {
		return err
	}
	rs.staged = append(rs.staged, staged{e, file})
	return nil
}

// spool writes r to a new file: a temp file of the restore, which needs
// no sync.
func spool(file string, r io.Reader) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commit puts the staged objects and writes the staged state files.
func (rs *restorer) commit() error {
	for _, s := range rs.staged {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		var err error
		if s.e.key != "" {
			err = putFile(rs.ctx, rs.to.Store, s.e.key, s.file)
		} else {
			err = rs.writeLocal(s)
		}
		if err != nil {
			return err
		}
		rs.done(s.e)
	}
	return nil
}

func (rs *restorer) writeLocal(s staged) error {
	rel := filepath.FromSlash(s.e.rel)
	if err := mkdirs("", rs.to.Path, filepath.Dir(rel)); err != nil {
		return fmt.Errorf("cannot restore %s: %w", s.e.rel, err)
	}
	in, err := os.Open(s.file)
	if err != nil {
		return err
	}
	defer in.Close()
	dst := filepath.Join(rs.to.Path, rel)
	if err := writeFileAtomic(dst, newHashReader(in, s.e.rel, s.e.sum, s.e.size), fs.FileMode(s.e.mode).Perm()); err != nil {
		return fmt.Errorf("cannot restore %s: %w", s.e.rel, err)
	}
	return nil
}

// putFile puts the checked temp file under key; a file lets an S3 store
// upload it in parts without another copy.
func putFile(ctx context.Context, s cache.Store, key, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.Put(ctx, key, f); err != nil {
		return fmt.Errorf("cannot restore %s: %w", key, err)
	}
	return nil
}
