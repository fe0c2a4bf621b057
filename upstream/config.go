package upstream

import "time"

// Config tunes the upstream client. It is not part of the TOML file; start
// from DefaultConfig. Zero timeouts mean none, Retries 0 means one attempt,
// BreakerFailures 0 disables the breaker.
type Config struct {
	// ConnectTimeout bounds dial plus TLS handshake.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is sent. Bodies are bounded by StallReader, never as a whole.
	ResponseHeaderTimeout time.Duration
	// Retries is the number of attempts after the first, for GET and HEAD,
	// on connect errors and 5xx.
	Retries int
	// RetryBackoff is the first backoff; it doubles per retry, up to
	// RetryBackoffMax, with jitter.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// BreakerFailures consecutive failed attempts (connect error or 5xx)
	// open the breaker of one upstream.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker fails fast before it lets
	// one trial request through (half-open).
	BreakerCooldown time.Duration
	// RetryAfterMax caps how long an upstream's 429 keeps nora from
	// revalidating that URL (its Retry-After, else 5 s); 0 disables the
	// hold, and every revalidation asks.
	RetryAfterMax time.Duration
}

// DefaultConfig returns the defaults for an edge box on a slow WAN.
func DefaultConfig() Config {
	return Config{
		ConnectTimeout:        10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		Retries:               2,
		RetryBackoff:          100 * time.Millisecond,
		RetryBackoffMax:       2 * time.Second,
		BreakerFailures:       5,
		BreakerCooldown:       30 * time.Second,
		RetryAfterMax:         15 * time.Minute,
	}
}
