package transfer

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"nora/cache"
)

// entry is one object or state file of a backup, as its header says.
type entry struct {
	name string // in the tar
	key  string // store key, or "" for a local file
	rel  string // local file, or ""
	size int64
	mode int64
	sum  string
}

// readBackup reads a backup and hands each entry to fn with its bytes,
// which fn must read through check (it fails on a mismatch with the
// entry's sum). It returns nil only after the end record matched
// everything before it and nothing followed. Its errors name the entry
// where the stream broke.
func readBackup(r io.Reader, fn func(e entry, body io.Reader) error) error {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != headerName {
		return fmt.Errorf("not a nora backup (no %s first): %w", headerName, errors.Join(err, ErrDamaged))
	}
	var head backupHeader
	body := newHashReader(io.LimitReader(tr, 64<<10), headerName, hdr.PAXRecords[paxSHA256], hdr.Size)
	b, err := io.ReadAll(body)
	if err == nil {
		err = json.Unmarshal(b, &head)
	}
	if err != nil || head.Format != formatVersion {
		return fmt.Errorf("%s: format %d, this nora reads %d: %w", headerName, head.Format, formatVersion, errors.Join(err, ErrDamaged))
	}
	var t tally
	t.add(hdr.Name, hdr.PAXRecords[paxSHA256], hdr.Size)
	last := headerName
	for {
		hdr, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("the backup is truncated: it ends after the entry %s, without its end record: %w", last, ErrDamaged)
		case err != nil:
			return fmt.Errorf("the backup is damaged after the entry %s: %w", last, errors.Join(err, ErrDamaged))
		case hdr.Name == endName:
			return checkEnd(tr, t.end(), last)
		}
		e, err := parseEntry(hdr)
		if err != nil {
			return err
		}
		body := newHashReader(tr, e.name, e.sum, e.size)
		if err := fn(e, body); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("the backup is truncated in the entry %s: %w", e.name, errors.Join(err, ErrDamaged))
			}
			return err
		}
		if _, err := io.Copy(io.Discard, body); err != nil { // fn may leave the rest
			return fmt.Errorf("the backup is damaged in the entry %s: %w", e.name, errors.Join(err, ErrDamaged))
		}
		t.add(e.name, e.sum, e.size)
		last = e.name
	}
}

// parseEntry checks an entry's header: a regular file named store/<valid
// key> or local/<relative path that stays inside>, with a sha256.
func parseEntry(hdr *tar.Header) (entry, error) {
	e := entry{name: hdr.Name, size: hdr.Size, mode: hdr.Mode, sum: hdr.PAXRecords[paxSHA256]}
	bad := func(why string) (entry, error) {
		return entry{}, fmt.Errorf("the backup's entry %q %s: %w", hdr.Name, why, ErrDamaged)
	}
	if hdr.Typeflag != tar.TypeReg {
		return bad("is not a regular file")
	}
	if len(e.sum) != 64 || strings.ToLower(e.sum) != e.sum {
		return bad("has no sha256 record")
	}
	if k, ok := strings.CutPrefix(hdr.Name, storePrefix); ok {
		if cache.CheckKey(k) != nil {
			return bad("is not a valid store key")
		}
		e.key = k
		return e, nil
	}
	if rel, ok := strings.CutPrefix(hdr.Name, localPrefix); ok {
		top, _, _ := strings.Cut(rel, "/")
		if cache.CheckKey(rel) != nil || notState[top] || strings.Contains(rel, "/"+tempPrefix) || strings.HasPrefix(rel, tempPrefix) {
			return bad("is not a state file")
		}
		e.rel = rel
		return e, nil
	}
	return bad("is neither store/ nor local/")
}

// checkEnd reads the end record and compares it with what was read.
func checkEnd(tr *tar.Reader, got backupEnd, last string) error {
	var want backupEnd
	if err := json.NewDecoder(io.LimitReader(tr, 64<<10)).Decode(&want); err != nil {
		return fmt.Errorf("the backup's end record is damaged: %w", errors.Join(err, ErrDamaged))
	}
	if want != got {
		return fmt.Errorf("the backup does not match its end record: %d entries (%d bytes) read up to %s, the record says %d (%d bytes), digest %s vs %s: %w",
			got.Entries, got.Bytes, last, want.Entries, want.Bytes, got.Digest, want.Digest, ErrDamaged)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the backup goes on after its end record: %w", errors.Join(err, ErrDamaged))
	}
	return nil
}

// Verify reads a whole backup from r and checks every entry and the end
// record, writing nothing. It reports each entry as Copied.
func Verify(r io.Reader, progress func(Event)) (Report, error) {
	var rep Report
	err := readBackup(r, func(e entry, body io.Reader) error {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		ev := Event{Key: e.key, File: e.rel, Size: e.size, Action: Copied}
		rep.add(ev)
		if progress != nil {
			progress(ev)
		}
		return nil
	})
	return rep, err
}
