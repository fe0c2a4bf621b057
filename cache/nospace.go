package cache

import (
	"errors"
	"fmt"
	"syscall"

	"nora/internal/fault"
)

// ErrNoSpace means the store's filesystem (or the user's quota on it) is
// full: nothing was stored. Formats answer it with HTTP 507 in their own
// error shape; the fill of a pull passes the bytes through instead.
var ErrNoSpace = fault.New(fault.NoSpace, "no space left in storage")

// IsNoSpace reports whether err is a full disk or an exhausted quota, as
// the store or the filesystem said it.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpace marks err as ErrNoSpace when it is a full disk, keeping its text
// for the log.
func noSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !IsNoSpace(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}
