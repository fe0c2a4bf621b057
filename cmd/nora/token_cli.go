package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nora/proxy/admin"
)

// newTokenCmd returns `nora token create|list|revoke`: API tokens on the
// running server's admin socket (DESIGN 3.5).
func newTokenCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var req admin.CreateToken
	var createJSON, listJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Make an API token and print it (it is shown only once)",
		Long: "Make an API token that may do at most what its --permissions say, and print it alone on\n" +
			"standard output: nora keeps only its hash, so it cannot be shown again. Clients use it as\n" +
			"the password of Basic auth with any user name (docker login, pip, twine, Maven), as npm's\n" +
			"_authToken, or as cargo's registry token.",
		Example: `  nora token create --name laptop --permissions "push:frontend/*" --expires 30d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			return cl.createToken(cmd.Context(), req, createJSON)
		},
	}
	configFlag(create)
	create.Flags().StringVar(&req.Name, "name", "", "the token's name, unique: rules and the audit log know it by it")
	create.Flags().StringArrayVar(&req.Permissions, "permissions", nil,
		`what the token may do at most: ACTION:GLOB or ACTION:FORMAT:GLOB ("push:frontend/*"); repeat for more`)
	create.Flags().StringVar(&req.Expires, "expires", "", `lifetime ("30d", "12h"); default: never expires`)
	create.Flags().BoolVar(&createJSON, "json", false, "print name, token, permissions and expiry as JSON")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("permissions")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			return cl.listTokens(cmd.Context(), listJSON)
		},
	}
	configFlag(list)
	list.Flags().BoolVar(&listJSON, "json", false, "print the tokens as JSON")

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an API token; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			if err := cl.client.RevokeToken(cmd.Context(), args[0]); err != nil {
				return cl.explain("cannot revoke "+args[0], err)
			}
			fmt.Fprintf(cl.stderr, "revoked %s\n", args[0])
			return nil
		},
	}
	configFlag(revoke)
	revoke.ValidArgsFunction = tokenNames(socket)

	token := &cobra.Command{Use: "token", Short: "API tokens of the running server", Args: cobra.NoArgs}
	token.AddCommand(create, list, revoke)
	return token
}

// tokenNames completes a token name in the shell: the names the server
// lists, nothing when it cannot be asked.
func tokenNames(socket socketFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		cl, err := newAdminCLI(cmd, socket)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ts, err := cl.client.Tokens(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.Name
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// createToken prints the new token alone (scripts capture it), or its
// JSON; what it is goes to stderr.
func (c *adminCLI) createToken(ctx context.Context, req admin.CreateToken, asJSON bool) error {
	t, err := c.client.CreateToken(ctx, req)
	if err != nil {
		return c.explain("cannot create token "+req.Name, err)
	}
	if asJSON {
		return c.printJSON(t)
	}
	if _, err := fmt.Fprintln(c.stdout, t.Token); err != nil {
		return err
	}
	expires := "never expires"
	if !t.ExpiresAt.IsZero() {
		expires = "expires " + t.ExpiresAt.Local().Format(time.DateTime)
	}
	fmt.Fprintf(c.stderr, "token %s (%s), %s; it is not shown again\n", t.Name, strings.Join(t.Permissions, ", "), expires)
	return nil
}

// listTokens prints one token a line: name, permissions, expiry.
func (c *adminCLI) listTokens(ctx context.Context, asJSON bool) error {
	ts, err := c.client.Tokens(ctx)
	if err != nil {
		return c.explain("cannot list tokens", err)
	}
	if asJSON {
		return c.printJSON(ts)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPERMISSIONS\tCREATED\tEXPIRES")
	for _, t := range ts {
		expires := "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Local().Format(time.DateTime)
			if !now.Before(t.ExpiresAt) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Permissions, ","),
			t.CreatedAt.Local().Format(time.DateTime), expires)
	}
	return tw.Flush()
}

func (c *adminCLI) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
