package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"nora/proxy/sitetls"
)

// newCACmd is nora ca: print the site CA certificate (auto mode), the one
// clients add to their trust, from the storage path; no server needed.
func newCACmd(env []string) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Print the site CA certificate (PEM) that [server.tls] mode = \"auto\" created",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(configPath, systemConfigPath, env)
			if err != nil {
				return err
			}
			file := sitetls.CAFile(cfg.Storage.Path)
			b, err := os.ReadFile(file)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no site CA at %s: nora serve creates it on its first start with [server.tls] mode = \"auto\"", file)
			}
			if err != nil {
				return fmt.Errorf("cannot read the site CA: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "",
		"config file whose storage path holds tls/ca.crt (default "+systemConfigPath+" if it exists, else the embedded default)")
	return cmd
}
