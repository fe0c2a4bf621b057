package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"nora/cache"
	"nora/internal/fault"
)

// ErrDamaged is wrapped by every error about bytes that do not match the
// digest or size they should have.
var ErrDamaged = fault.New(fault.Invalid, "bytes do not match their digest")

// hashReader hashes and counts what is read through it. With want set it
// checks the sum (and size, if not -1) when the source ends and returns
// an error instead of io.EOF on a mismatch, so that a Put reading from it
// aborts and commits nothing.
type hashReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want string // hex sha256; "" checks nothing
	size int64  // -1: any
	what string // in messages
}

func newHashReader(r io.Reader, what, want string, size int64) *hashReader {
	return &hashReader{r: r, h: sha256.New(), want: want, size: size, what: what}
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err == io.EOF {
		if verr := h.check(); verr != nil {
			return n, verr
		}
	}
	return n, err
}

func (h *hashReader) check() error {
	if h.size >= 0 && h.n != h.size {
		return fmt.Errorf("%s: %d bytes, want %d: %w", h.what, h.n, h.size, ErrDamaged)
	}
	if h.want != "" && h.sum() != h.want {
		return fmt.Errorf("%s: the bytes hash to sha256:%s, want sha256:%s: %w", h.what, h.sum(), h.want, ErrDamaged)
	}
	return nil
}

func (h *hashReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

// hashObject reads key whole from s and returns its sha256 and size.
func hashObject(ctx context.Context, s cache.Store, key string) (string, int64, error) {
	rc, _, err := s.Get(ctx, key, 0)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, fmt.Errorf("cannot read %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
