package cargo

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"

	"nora/hosted"
	"nora/internal/fault"
)

// maxMetadataBytes bounds the JSON part of a publish body, which is read
// into memory (it carries the README).
const maxMetadataBytes = 8 << 20

// Request is a publish (PUT /api/v1/crates/new) whose metadata part has
// been read and validated; the .crate part is still unread in the body.
// The wire format is
//
//	u32 LE length | JSON metadata | u32 LE length | .crate bytes
//
// and nothing after.
type Request struct {
	entry IndexEntry
	body  io.Reader
	left  int64 // body bytes after the metadata; -1 if unknown (chunked)
	max   int64
	meta  int64 // bytes of the body read so far
	// unpackLimit bounds what the .crate may unpack to.
	unpackLimit int64
}

// Name is the crate name as the metadata spells it.
func (q *Request) Name() string { return q.entry.Name }

// Vers is the version being published.
func (q *Request) Vers() string { return q.entry.Vers }

// ReadRequest reads and validates the metadata part of a publish body of
// size bytes (-1 if unknown), refusing bodies larger than max. Errors are
// fault.Invalid or fault.TooLarge.
func ReadRequest(body io.Reader, size, max int64) (*Request, error) {
	if size > max {
		return nil, fault.Newf(fault.TooLarge, "the publish body has %d bytes, more than the %d this registry accepts", size, max)
	}
	n, err := readLength(body, "metadata")
	if err != nil {
		return nil, err
	}
	switch {
	case n > maxMetadataBytes || n+8 > max:
		return nil, fault.Newf(fault.TooLarge, "the publish metadata has %d bytes, more than the %d this registry accepts", n, min(maxMetadataBytes, max-8))
	case size >= 0 && n+8 > size:
		return nil, invalid(fmt.Sprintf("the metadata length %d does not fit in the %d-byte publish body", n, size))
	}
	meta := make([]byte, n)
	if _, err := io.ReadFull(body, meta); err != nil {
		return nil, bodyError("the metadata", err)
	}
	e, err := parseMetadata(meta)
	if err != nil {
		return nil, invalid(err.Error())
	}
	q := &Request{entry: e, body: body, left: -1, max: max, meta: n + 4, unpackLimit: maxUnpackedBytes}
	if size >= 0 {
		q.left = size - q.meta
	}
	return q, nil
}

// readLength reads one u32 LE length of the wire format.
func readLength(r io.Reader, what string) (int64, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, bodyError("the length of "+what, err)
	}
	return int64(binary.LittleEndian.Uint32(b[:])), nil
}

// bodyError describes a body that ended or broke off while reading what.
func bodyError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("the publish body ends before " + what + " does")
	}
	return fault.Wrap(fault.Invalid, err, "the publish body broke off in "+what)
}

// spool reads the .crate part into a new temp file in dir while hashing it,
// checks that the body ends there, and checks the .crate itself. It
// returns the closed temp file's path; on error nothing is left in dir.
func (q *Request) spool(dir string) (tmp string, d digest.Digest, size int64, err error) {
	n, err := readLength(q.body, "the .crate")
	if err != nil {
		return "", "", 0, err
	}
	switch {
	case n == 0:
		return "", "", 0, invalid("the .crate is empty")
	case q.meta+4+n > q.max:
		return "", "", 0, fault.Newf(fault.TooLarge, "the .crate has %d bytes, more than the %d this registry accepts", n, q.max-q.meta-4)
	case q.left >= 0 && 4+n != q.left:
		return "", "", 0, invalid(fmt.Sprintf("the .crate length %d does not match the %d bytes left in the publish body", n, q.left-4))
	}
	f, err := os.CreateTemp(dir, "publish-*")
	if err != nil {
		return "", "", 0, fmt.Errorf("cannot create a temp file for the .crate: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cannot write the .crate: %w", cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	// Write errors are ours, read errors the client's: tell them apart.
	w := &hosted.ErrWriter{W: io.MultiWriter(f, h)}
	if _, err := io.CopyN(w, q.body, n); err != nil {
		if w.Err != nil {
			return "", "", 0, fmt.Errorf("cannot write the .crate: %w", w.Err)
		}
		return "", "", 0, bodyError("the .crate", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(q.body, one[:]); k > 0 {
		return "", "", 0, invalid("the publish body has bytes after the .crate")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", "", 0, fmt.Errorf("cannot reread the .crate: %w", err)
	}
	if err := checkCrate(f, q.entry.Name, q.entry.Vers, q.unpackLimit); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The temp file failed, not the .crate; the text names a path.
			return "", "", 0, fmt.Errorf("cannot reread the .crate: %w", err)
		}
		return "", "", 0, invalid(err.Error())
	}
	return f.Name(), digest.NewDigest(digest.SHA256, h), n, nil
}
