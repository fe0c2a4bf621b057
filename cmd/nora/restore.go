package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"nora/cache/transfer"
)

const restoreLong = `Restore a file written by nora backup ("-": standard input) into the storage of
the config: its objects into the [storage] backend, its state files into the
[storage] path. The storage must be empty (no object, no state file) unless
--force, which replaces what the backup holds and leaves the rest.

The sha256 of every entry is checked before it is committed: a content-addressed
blob as it streams into the store (a mismatch commits nothing), anything else in
a temp file. A cut or damaged file is refused with an error naming the entry. Of
a refused file, the blobs already checked stay in the store (they are right; a
later restore or GC deals with them); no other object and no state file is
restored, as those are committed only after the end record matched.

No nora may serve the storage path meanwhile: restore refuses while one does.
The index.db is removed; nora rebuilds it from the store at its next start.`

// newRestoreCmd is nora restore.
func newRestoreCmd(env []string) *cobra.Command {
	var config string
	var force, asJSON bool
	c := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a nora backup into a stopped nora's empty storage",
		Long:  restoreLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd.Context(), cmd, env, config, args[0], force, asJSON)
		},
	}
	c.Flags().StringVar(&config, "config", "", configFlagHelp)
	c.Flags().BoolVar(&force, "force", false, "restore into storage that is not empty")
	c.Flags().BoolVar(&asJSON, "json", false, "print the final counts as JSON")
	return c
}

func runRestore(ctx context.Context, cmd *cobra.Command, env []string, config, file string, force, asJSON bool) error {
	ctx, stop := untilSignal(ctx)
	defer stop()
	// The storage first: a running server is the first thing to hear of.
	side, _, release, err := openSide(ctx, config, env, writeSide)
	if err != nil {
		return err
	}
	defer release()
	var in io.Reader = cmd.InOrStdin()
	var size int64
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		in = f
	}
	view := newTransferView("restore", cmd.OutOrStdout(), cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()) && !asJSON)
	view.listed(size)
	rep, err := transfer.Restore(ctx, in, side, transfer.RestoreOptions{Force: force, Progress: view.event})
	view.finish(err == nil)
	if perr := printReport(cmd.OutOrStdout(), "restored", rep, asJSON); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("restore failed: %w", err)
	}
	return nil
}
