package upstream

import (
	"errors"
	"fmt"

	"nora/internal/fault"
)

// ErrUnavailable is wrapped by every error that means the upstream could not
// be reached, stopped sending, or is cut off by its circuit breaker. Callers
// then serve stale copies (DESIGN 2.2) instead of failing.
var ErrUnavailable = fault.New(fault.Unavailable, "upstream unavailable")

// ErrBreakerOpen is returned by Do while an upstream's circuit breaker is open.
var ErrBreakerOpen = fmt.Errorf("%w: circuit breaker open", ErrUnavailable)

// IsUnavailable reports whether err means the upstream could not be reached
// (connect error, timeout, breaker open, body stalled or cut).
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
