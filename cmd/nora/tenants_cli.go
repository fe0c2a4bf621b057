package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newTenantsCmd returns `nora tenants ls`: the [[tenants]] of the running
// server and their usage, from its admin socket (DESIGN 3.5).
func newTenantsCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var asJSON bool
	var remote remoteFlags
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the tenants with their quota, usage and rate limits",
		Long: "List the running server's tenants in configuration order, the default last: the names\n" +
			"they own, their storage quota and the hosted bytes of their names (an object counted once\n" +
			"however many of a tenant's names hold it), and their pull and push limits per hour.\n" +
			"\"-\" is no quota or no limit. It asks the admin socket, or with --server the admin API\n" +
			"on that nora's listener, which needs --token with the admin permission.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := remote.client(cmd, socket)
			if err != nil {
				return err
			}
			return cl.listTenants(cmd.Context(), asJSON)
		},
	}
	configFlag(ls)
	remote.add(ls)
	ls.Flags().BoolVar(&asJSON, "json", false, "print the admin API's answer: each tenant's configuration and usage")
	tenants := &cobra.Command{Use: "tenants", Short: "Tenants of the running server: quotas, limits, usage", Args: cobra.NoArgs}
	tenants.AddCommand(ls)
	return tenants
}

// listTenants prints one tenant a line, or the JSON of GET
// /api/v1/tenants.
func (c *adminCLI) listTenants(ctx context.Context, asJSON bool) error {
	ts, err := c.client.Tenants(ctx)
	if err != nil {
		return c.explain("cannot list tenants", err)
	}
	if asJSON {
		return c.printJSON(ts)
	}
	none := func(n int64, f func(int64) string) string {
		if n == 0 {
			return "-"
		}
		return f(n)
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPREFIXES\tQUOTA\tUSED\tPULL/h\tPUSH/h")
	for _, t := range ts {
		prefixes := strings.Join(t.Prefixes, ",")
		if prefixes == "" {
			prefixes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, prefixes, none(t.StorageQuota, humanSize),
			humanSize(t.StorageBytes), none(int64(t.RateLimit.Pull), count), none(int64(t.RateLimit.Push), count))
	}
	return tw.Flush()
}
