// Command nora is a pull-through caching proxy for container and package
// registries. main only wires: load the config, build the app, serve until
// SIGTERM or SIGINT.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"nora/proxy"
	"nora/proxy/admin"
)

// Set by the linker: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	cmd := newRootCmd(stdout, env)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func newRootCmd(stdout io.Writer, env []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "nora",
		Short:         "Pull-through caching proxy for container and package registries",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// nora --version prints what nora version prints.
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
	logLevel := root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn or error")

	var configPath string
	configFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&configPath, "config", "",
			"config file (default "+systemConfigPath+" if it exists, else the embedded default)")
	}

	serveCmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the proxy until SIGTERM or SIGINT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stdout, *logLevel)
			if err != nil {
				return err
			}
			defer log.Handler().(*proxy.LogHandler).Flush()
			load := func() (fileConfig, string, error) { return loadStartable(configPath, systemConfigPath, env) }
			return serve(cmd.Context(), load, log, newNotifier(env))
		},
	}
	configFlag(serveCmd)

	configCmd := newConfigCmd(&configPath, configFlag, env)

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		},
	}

	adminSocket := func() (string, string, error) {
		cfg, source, err := loadConfig(configPath, systemConfigPath, env)
		if err != nil {
			return "", source, err
		}
		return admin.SocketPath(cfg.Server.AdminSocket, cfg.Storage.Path), source, nil
	}

	root.AddCommand(serveCmd, configCmd, versionCmd)
	root.AddCommand(newAdminCmds(adminSocket, configFlag)...)
	root.AddCommand(addRemote(newTokenCmd(adminSocket, configFlag)))
	root.AddCommand(newContentCmds(adminSocket, configFlag)...)
	root.AddCommand(newTenantsCmd(adminSocket, configFlag))
	root.AddCommand(addRemote(newPrefetchCmd(adminSocket, configFlag)))
	root.AddCommand(addRemote(newReplicateCmd(adminSocket, configFlag)))
	root.AddCommand(newExportCmd(adminSocket, configFlag), newImportCmd(adminSocket, configFlag))
	root.AddCommand(newStatusCmds(env)...)
	root.AddCommand(newLoginCmd(env))
	root.AddCommand(newCACmd(env))
	root.AddCommand(newMigrateCmd(env), newBackupCmd(env), newRestoreCmd(env))
	return root
}

// newConfigCmd is nora config check [--connect].
func newConfigCmd(configPath *string, configFlag func(*cobra.Command), env []string) *cobra.Command {
	var connect bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration as serve would, without serving",
		Long: "Validate the configuration as serve would, without serving. With --connect, also\n" +
			"open the storage backend as serve would: for S3, the bucket must exist and the\n" +
			"credentials must be accepted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, source, err := loadStartable(*configPath, systemConfigPath, env)
			if err != nil {
				return err
			}
			if connect {
				if err := checkConnect(cmd.Context(), cfg); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s\n", source)
			for _, n := range authNotes(&cfg) {
				fmt.Fprintf(cmd.OutOrStdout(), "note: %s\n", n)
			}
			return nil
		},
	}
	configFlag(check)
	check.Flags().BoolVar(&connect, "connect", false, "also open the storage backend (S3: the bucket and credentials)")
	configCmd := &cobra.Command{Use: "config", Short: "Configuration tools", Args: cobra.NoArgs}
	configCmd.AddCommand(check)
	return configCmd
}

// serve loads the configuration and runs the app until SIGTERM or SIGINT;
// SIGHUP loads it again (configReloader). sd tells systemd (Type=notify)
// when nora is ready, reloading and stopping.
func serve(ctx context.Context, load func() (fileConfig, string, error), log *slog.Logger, sd *notifier) error {
	cfg, source, err := load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	defer limitMemory(ctx, log)()
	go func() {
		<-ctx.Done()
		// A second signal kills at once instead of waiting for the drain.
		stop()
		_ = sd.stopping()
	}()

	app, err := proxy.NewApp(cfg.app(), log)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	log.Info("listening", "addr", app.Addr().String(), "config", source, "version", version)
	status := "serving on " + app.Addr().String()
	defer reloadOnHangup(ctx, configReloader(app, cfg, load, log), sd, log, status)()
	if err := sd.ready(status); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	if err := app.Serve(ctx); err != nil {
		return fmt.Errorf("cannot serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)
	}
	return slog.New(proxy.NewLogHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: durationString})), nil
}

// durationString writes a time.Duration as Go writes it ("30s", "1.5ms"),
// not as the nanoseconds slog's JSON handler writes. The access line's
// duration_ms is a number on purpose (proxy/server_access.go).
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// versionLine is what nora version and nora --version print.
func versionLine() string {
	return fmt.Sprintf("nora %s commit %s %s %s/%s", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildCommit is the linker's commit, else the one the go command stamped.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
