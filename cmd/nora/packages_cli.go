package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nora/proxy/inventory"
)

// newPackagesCmd returns `nora packages ls FORMAT [NAME]`.
func newPackagesCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls FORMAT [NAME]",
		Short: "List the hosted and cached packages of a format with their versions",
		Long: "List the packages of FORMAT (npm, pypi, maven, cargo): the hosted ones, then those the\n" +
			"cache holds files of, one line per version: its files, their size, when it was published\n" +
			"(hosted) and last pulled. Maven packages are named group:artifact. With NAME only that\n" +
			"package; one that is neither hosted nor cached is an error (exit code 1).",
		Example:   "  nora packages ls npm\n  nora packages ls maven com.acme:lib --json",
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{"npm", "pypi", "maven", "cargo"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			raw, err := cl.client.Packages(cmd.Context(), args[0], name)
			if err != nil {
				return cl.explain("cannot list "+args[0]+" packages", err)
			}
			if asJSON {
				return printJSON(cl.stdout, raw)
			}
			return printPackages(cl.stdout, raw)
		},
	}
	configFlag(ls)
	ls.Flags().BoolVar(&asJSON, "json", false, `print the admin API's answer: {"packages": [...]}`)
	packages := &cobra.Command{Use: "packages", Short: "Packages on the running server", Args: cobra.NoArgs}
	packages.AddCommand(ls)
	return addRemote(packages)
}

// printPackages writes the answer of GET /api/v1/packages/<format> as a
// table.
func printPackages(w io.Writer, raw json.RawMessage) error {
	var ans struct {
		Packages []inventory.Package `json:"packages"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("cannot read the admin API's answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tFILES\tSIZE\tPUBLISHED\tLAST PULL\tKIND")
	for _, p := range ans.Packages {
		for _, v := range p.Versions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, v.Version, v.Files, humanSize(v.Size),
				when(v.Published), when(v.LastPull), kindOf(p.Hosted))
		}
	}
	return tw.Flush()
}
