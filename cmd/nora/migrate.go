package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"nora/cache"
	"nora/cache/transfer"
	"nora/proxy"
)

const migrateLong = `Copy everything a nora needs from the storage of one config to the storage of
another: every object of the [storage] backend (disk or S3, any pair), and the
state files of the [storage] path (a site CA under tls/, API tokens, hosted state
kept in files; not objects/, tmp/, spool/, index.db, admin.sock) when the two paths
differ.

Objects stream from one store to the other. A content-addressed blob is copied
only if its bytes hash to its name; any other object and file is hashed on the
way and read back from the destination before it counts as copied. What the
destination already holds intact (same size; for objects that are not content
addressed, the same sha256) is skipped, so an interrupted migrate finishes when
run again. The destination's index.db is removed: nora rebuilds it from the store
at its next start.

Both sides must be offline: migrate refuses while a nora serves either storage
path (it holds index.db). It prints how many objects and files were copied,
skipped and failed, and exits non-zero when any failed.`

// newMigrateCmd is nora migrate.
func newMigrateCmd(env []string) *cobra.Command {
	var from, to string
	var dry, asJSON bool
	c := &cobra.Command{
		Use:   "migrate --from CONFIG --to CONFIG",
		Short: "Copy a stopped nora's storage to another backend or path (disk, S3)",
		Long:  migrateLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), env, from, to, dry, asJSON)
		},
	}
	c.Flags().StringVar(&from, "from", "", "config file of the storage to copy from")
	c.Flags().StringVar(&to, "to", "", "config file of the storage to copy to")
	c.Flags().BoolVar(&dry, "dry-run", false, "list what would be copied, change nothing")
	c.Flags().BoolVar(&asJSON, "json", false, "print the final counts as JSON, nothing else on standard output")
	c.MarkFlagRequired("from")
	c.MarkFlagRequired("to")
	return c
}

func runMigrate(ctx context.Context, stdout, stderr io.Writer, env []string, from, to string, dry, asJSON bool) error {
	ctx, stop := untilSignal(ctx)
	defer stop()
	src, srcName, release, err := openSide(ctx, from, env, readSide)
	if err != nil {
		return err
	}
	defer release()
	use := writeSide
	if dry {
		use = peekSide
	}
	dst, dstName, release2, err := openSide(ctx, to, env, use)
	if err != nil {
		return err
	}
	defer release2()
	if srcName == dstName {
		return fmt.Errorf("--from and --to name the same storage (%s)", srcName)
	}
	lines := stdout
	if asJSON {
		lines = io.Discard // stdout is the JSON alone
	}
	view := newTransferView("migrate", lines, stderr, isTerminal(stderr) && !asJSON)
	rep, err := transfer.Migrate(ctx, src, dst, transfer.Options{DryRun: dry, Listed: view.listed, Progress: view.event})
	view.finish(err == nil && rep.Failed == 0)
	verb := "copied"
	if dry {
		verb = "would copy"
	}
	if perr := printReport(stdout, verb, rep, asJSON); perr != nil && err == nil {
		err = perr
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("migrate interrupted: run it again to finish; what is copied is skipped")
	}
	if err != nil {
		return fmt.Errorf("migrate stopped: %w (run it again to finish: what is copied is skipped)", err)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("migrate: %d objects or files failed", rep.Failed)
	}
	return nil
}

// sideUse says what a command does with a storage.
type sideUse int

const (
	readSide  sideUse = iota // copied from: a disk storage must exist
	writeSide                // copied to: created if missing
	peekSide                 // a dry run's destination: never created
)

// openSide loads a config ("": the default one) as serve would read it,
// checks that no nora serves on its storage path and opens its store.
// name says which storage it is (backend and where), to tell the two
// sides apart.
func openSide(ctx context.Context, config string, env []string, use sideUse) (side transfer.Side, name string, release func(), err error) {
	cfg, source, err := loadConfig(config, systemConfigPath, env)
	if err != nil {
		return side, "", nil, err
	}
	st := cfg.Storage
	name = "disk " + absPath(st.Path)
	if st.Backend == "s3" {
		name = fmt.Sprintf("s3 %s bucket %s prefix %q", st.S3.Endpoint, st.S3.Bucket, st.S3.Prefix)
	}
	release, err = transfer.Offline(st.Path)
	if err != nil {
		return side, "", nil, fmt.Errorf("%s: %w", source, err)
	}
	if st.Backend != "s3" && use != writeSide {
		// Opening a disk store creates its directories.
		if _, err := os.Stat(filepath.Join(st.Path, "objects")); err != nil {
			if use == peekSide {
				return transfer.Side{Store: nothing{}, Path: st.Path}, name, release, nil
			}
			release()
			return side, "", nil, fmt.Errorf("%s: the storage path %s holds no objects/: %w", source, st.Path, err)
		}
	}
	store, err := proxy.OpenStore(ctx, st)
	if err != nil {
		release()
		return side, "", nil, fmt.Errorf("%s: cannot open the storage: %w", source, err)
	}
	return transfer.Side{Store: store, Path: st.Path}, name, release, nil
}

// nothing is a store that holds no object: a dry run's destination on a
// disk storage that does not exist yet, which opening would create.
type nothing struct{}

func (nothing) Stat(context.Context, string) (cache.Info, error) {
	return cache.Info{}, cache.ErrNotFound
}
func (nothing) Get(context.Context, string, int64) (io.ReadCloser, cache.Info, error) {
	return nil, cache.Info{}, cache.ErrNotFound
}
func (nothing) Put(context.Context, string, io.Reader) error {
	return errors.New("a dry run writes nothing")
}
func (nothing) Delete(context.Context, string) error { return errors.New("a dry run writes nothing") }

// absPath is path made absolute, as it is if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
