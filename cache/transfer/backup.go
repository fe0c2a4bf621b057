package transfer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"nora/cache"
)

// BackupOptions tune Backup.
type BackupOptions struct {
	// TempDir holds, one at a time, the objects that are not content
	// addressed and the local files: their sha256 goes in the tar header,
	// before their bytes. Default os.TempDir().
	TempDir string
	// Listed and Progress are as in Options.
	Listed   func(size int64)
	Progress func(Event)
}

// Backup writes every object of from's store and every local state file
// of its storage path to w as one tar stream (the format is in
// format.go). A content-addressed object is checked against its name as
// it streams: a damaged one stops the backup with an error naming it,
// and the stream then has no end record, which Restore refuses. An object
// removed after it was listed (a running server's GC or eviction) is left
// out.
func Backup(ctx context.Context, w io.Writer, from Side, o BackupOptions) (Report, error) {
	lister, ok := from.Store.(cache.Lister)
	if !ok {
		return Report{}, errors.New("the store cannot list its objects")
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	bw := newBackupWriter(w)
	var rep Report
	done := func(e Event) {
		rep.add(e)
		if o.Progress != nil {
			o.Progress(e)
		}
	}
	hb, _ := json.Marshal(backupHeader{Format: formatVersion, Created: time.Now().UTC()})
	if err := bw.writeBytes(headerName, hb); err != nil {
		return rep, err
	}
	err := lister.List(ctx, "", func(key string, info cache.Info) error {
		if instanceState(key) {
			return nil
		}
		if o.Listed != nil {
			o.Listed(info.Size)
		}
		n, err := backupObject(ctx, bw, from.Store, key, o.TempDir)
		switch {
		case errors.Is(err, cache.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		done(Event{Key: key, Size: n, Action: Copied})
		return ctx.Err()
	})
	if err != nil {
		return rep, fmt.Errorf("backup stopped: %w", err)
	}
	if err := backupLocal(ctx, bw, from.Path, o, done); err != nil {
		return rep, err
	}
	return rep, bw.close()
}

// BackupTo is Backup of from as the admin API serves it
// (admin.BackupFunc): a running nora's storage, its objects spooled in
// tmpDir.
func BackupTo(from Side, tmpDir string) func(ctx context.Context, w io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		_, err := Backup(ctx, w, from, BackupOptions{TempDir: tmpDir})
		return err
	}
}

// backupObject writes key's entry and returns its size.
func backupObject(ctx context.Context, bw *backupWriter, s cache.Store, key, tmpDir string) (int64, error) {
	rc, info, err := s.Get(ctx, key, 0)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	name := storePrefix + key
	if want := blobDigest(key); want != "" {
		hr := newHashReader(rc, key, want, info.Size)
		return info.Size, bw.write(name, info.Size, 0o640, info.ModTime, want, hr)
	}
	return bw.writeSpooled(name, 0o640, info.ModTime, rc, tmpDir)
}

// backupLocal writes the state files of path.
func backupLocal(ctx context.Context, bw *backupWriter, path string, o BackupOptions, done func(Event)) error {
	files, err := LocalFiles(path, "")
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.Listed != nil {
			o.Listed(f.Size)
		}
		in, err := os.Open(filepath.Join(path, filepath.FromSlash(f.Rel)))
		if err != nil {
			return fmt.Errorf("cannot back up %s: %w", f.Rel, err)
		}
		fi, err := in.Stat()
		if err == nil {
			var n int64
			n, err = bw.writeSpooled(localPrefix+f.Rel, f.Mode, fi.ModTime(), in, o.TempDir)
			f.Size = n
		}
		in.Close()
		if err != nil {
			return fmt.Errorf("cannot back up %s: %w", f.Rel, err)
		}
		done(Event{File: f.Rel, Size: f.Size, Action: Copied})
	}
	return nil
}

// backupWriter writes entries with their sha256 and keeps the tally the
// end record carries.
type backupWriter struct {
	tw    *tar.Writer
	tally tally
}

func newBackupWriter(w io.Writer) *backupWriter { return &backupWriter{tw: tar.NewWriter(w)} }

// write writes one entry of size bytes from r; r checks them.
func (bw *backupWriter) write(name string, size int64, mode os.FileMode, mod time.Time, sum string, r io.Reader) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: size, Mode: int64(mode), ModTime: mod,
		Format: tar.FormatPAX, PAXRecords: map[string]string{paxSHA256: sum},
	}
	if err := bw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("cannot write the entry %s: %w", name, err)
	}
	if _, err := io.Copy(bw.tw, r); err != nil {
		return fmt.Errorf("cannot write the entry %s: %w", name, err)
	}
	bw.tally.add(name, sum, size)
	return nil
}

func (bw *backupWriter) writeBytes(name string, b []byte) error {
	hr := newHashReader(nil, name, "", -1)
	hr.h.Write(b)
	return bw.write(name, int64(len(b)), 0o640, time.Now(), hr.sum(), bytes.NewReader(b))
}

// writeSpooled copies r to a temp file, hashing it, then writes the entry
// from the file: the header needs the sum before the bytes.
func (bw *backupWriter) writeSpooled(name string, mode os.FileMode, mod time.Time, r io.Reader, tmpDir string) (int64, error) {
	tmp, err := os.CreateTemp(tmpDir, tempPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("cannot spool %s: %w", name, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	hr := newHashReader(r, name, "", -1)
	if _, err := io.Copy(tmp, hr); err != nil {
		return 0, fmt.Errorf("cannot spool %s: %w", name, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	sum := hr.sum()
	return hr.n, bw.write(name, hr.n, mode, mod, sum, newHashReader(tmp, name, sum, hr.n))
}

// close writes the end record and the tar trailer.
func (bw *backupWriter) close() error {
	b, _ := json.Marshal(bw.tally.end())
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: endName, Size: int64(len(b)), Mode: 0o640,
		ModTime: time.Now(), Format: tar.FormatPAX}
	if err := bw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("cannot write the end record: %w", err)
	}
	if _, err := bw.tw.Write(b); err != nil {
		return fmt.Errorf("cannot write the end record: %w", err)
	}
	return bw.tw.Close()
}
