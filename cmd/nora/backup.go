package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"nora/cache/transfer"
	"nora/proxy"
	"nora/proxy/admin"
)

const backupLong = `Write everything needed to rebuild this nora into FILE ("-": standard output)
as one tar stream: every object of the [storage] backend, and the state files of
the [storage] path (the set nora migrate copies). Each entry carries its sha256 in
its header, and a last entry says how many entries and bytes came before it, so
that nora restore refuses a cut or damaged file.

While a nora serves the storage path (it holds index.db), nora backup asks it over
its admin socket (GET /api/v1/backup) and checks the stream entry by entry as it
arrives; a server that does not offer that resource is named, and the backup is
then taken with it stopped. Otherwise nora backup reads the storage itself and
holds its index.db, if there is one, so that no nora starts on it meanwhile. FILE
appears only once the whole stream is written, mode 0600 (it holds keys and
tokens); a failed backup leaves none.`

// configFlagHelp is the --config flag's help of every command.
const configFlagHelp = "config file (default " + systemConfigPath + " if it exists, else the embedded default)"

// newBackupCmd is nora backup.
func newBackupCmd(env []string) *cobra.Command {
	var config string
	var asJSON bool
	c := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write the storage (store objects and state files) as one verified tar stream",
		Long:  backupLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), env, config, args[0], asJSON)
		},
	}
	c.Flags().StringVar(&config, "config", "", configFlagHelp)
	c.Flags().BoolVar(&asJSON, "json", false, "print the final counts as JSON")
	return c
}

func runBackup(ctx context.Context, stdout, stderr io.Writer, env []string, config, file string, asJSON bool) error {
	ctx, stop := untilSignal(ctx)
	defer stop()
	cfg, source, err := loadConfig(config, systemConfigPath, env)
	if err != nil {
		return err
	}
	report := stdout
	if file == "-" {
		if isTerminal(stdout) {
			return errors.New("nora backup -: standard output is a terminal; give a FILE or redirect it")
		}
		report = stderr // stdout carries the backup
	}
	view := newTransferView("backup", report, stderr, isTerminal(stderr) && !asJSON)
	write, release, err := backupSource(ctx, cfg, source, view)
	if err != nil {
		return err
	}
	defer release()
	rep, err := writeOutput(file, stdout, write)
	view.finish(err == nil)
	if perr := printReport(report, "backed up", rep, asJSON); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("backup failed: %w", err)
	}
	return nil
}

// backupSource is where the backup comes from: the running server's admin
// API, else the storage itself, held offline until release.
func backupSource(ctx context.Context, cfg fileConfig, source string, view *transferView) (write func(io.Writer) (transfer.Report, error), release func(), err error) {
	st := cfg.Storage
	release, err = transfer.Offline(st.Path)
	if errors.Is(err, transfer.ErrServing) {
		sock := admin.SocketPath(cfg.Server.AdminSocket, st.Path)
		return func(w io.Writer) (transfer.Report, error) {
			body, err := admin.NewClient(sock).Backup(ctx)
			if errors.Is(err, admin.ErrNoBackup) {
				return transfer.Report{}, fmt.Errorf("%w: stop it and run nora backup again, which then reads the storage itself", err)
			}
			if err != nil {
				return transfer.Report{}, fmt.Errorf("cannot get the backup from the running nora at %s: %w", sock, err)
			}
			defer body.Close()
			return transfer.Verify(io.TeeReader(body, w), func(e transfer.Event) {
				view.listed(e.Size)
				view.event(e)
			})
		}, func() {}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	store, err := proxy.OpenStore(ctx, st)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("%s: cannot open the storage: %w", source, err)
	}
	side := transfer.Side{Store: store, Path: st.Path}
	return func(w io.Writer) (transfer.Report, error) {
		return transfer.Backup(ctx, w, side, transfer.BackupOptions{Listed: view.listed, Progress: view.event})
	}, release, nil
}

// writeOutput runs write into file ("-": stdout) through a temp file
// beside it, renamed to file once write succeeded.
func writeOutput(file string, stdout io.Writer, write func(io.Writer) (transfer.Report, error)) (transfer.Report, error) {
	if file == "-" {
		return write(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".nora-backup-*")
	if err != nil {
		return transfer.Report{}, err
	}
	defer os.Remove(tmp.Name()) // gone after the rename
	rep, err := write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	return rep, err
}
