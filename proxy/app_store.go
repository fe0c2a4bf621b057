package proxy

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"nora/cache"
	"nora/cache/disk"
	s3store "nora/cache/s3"
)

// storeOpenTimeout bounds the start-up check of a remote store.
const storeOpenTimeout = 60 * time.Second

// OpenStore opens the [storage] backend: the disk under path, or the S3
// bucket (checked once here, so a missing bucket, a wrong endpoint or bad
// credentials stop the start with one error). Its spool for uploads that
// are not files is the cache's, under path.
func OpenStore(ctx context.Context, cfg cache.Config) (cache.Store, error) {
	switch cfg.Backend {
	case "disk", "":
		return disk.Open(cfg.Path)
	case "s3":
		ctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
		defer cancel()
		return s3store.Open(ctx, cfg.S3, s3store.Options{SpoolDir: filepath.Join(cfg.Path, "spool"),
			Stall: cfg.StallTimeout.D()})
	}
	return nil, fmt.Errorf("storage.backend: want \"disk\" or \"s3\", got %q", cfg.Backend)
}
