package main

import (
	"context"

	"nora/proxy"
)

// checkConnect opens the configured S3 store as serve would: nora config
// check --connect. The disk needs no connection (startable checked that
// its path is writable).
func checkConnect(ctx context.Context, cfg fileConfig) error {
	if cfg.Storage.Backend != "s3" {
		return nil
	}
	_, err := proxy.OpenStore(ctx, cfg.Storage)
	return err
}
