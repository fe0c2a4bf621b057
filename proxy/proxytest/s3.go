package proxytest

import (
	"testing"
	"time"

	"nora/cache"
	"nora/cache/s3/s3test"
	"nora/internal/units"
)

// S3Storage is a [storage] section on a new bucket of srv, with a local
// path of its own for the index and the spool, and the test defaults of
// Start. The process environment gets the test user's credentials
// (s3test.Setenv): call it before any t.Parallel.
func S3Storage(t testing.TB, srv *s3test.Server, bucket string) cache.Config {
	t.Helper()
	s3test.Setenv(t)
	cfg := cache.DefaultConfig()
	cfg.Backend = "s3"
	cfg.Path = t.TempDir()
	cfg.S3 = srv.Config(bucket)
	cfg.StallTimeout = units.Duration(10 * time.Second)
	return cfg
}
