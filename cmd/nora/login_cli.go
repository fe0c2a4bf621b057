package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// loginOptions are nora login's flags.
type loginOptions struct {
	server, home string
	idToken      idTokenSource
	write        []string
	timeout      time.Duration
}

func newLoginCmd(env []string) *cobra.Command {
	var o loginOptions
	names := make([]string, len(credWriters))
	for i, w := range credWriters {
		names[i] = w.name
	}
	c := &cobra.Command{
		Use:   "login --server URL",
		Short: "Exchange a CI job's OIDC ID token for a nora token and write the clients' credentials",
		Long: "Exchange the CI runner's OIDC ID token at the server's /auth/oidc/token for a short-lived\n" +
			"nora token, and write it where docker, npm, pip and twine, cargo and Maven read credentials,\n" +
			"merged into the files that are there. On GitHub Actions the ID token comes from the job's\n" +
			"token request (the workflow needs `permissions: id-token: write`); elsewhere name the\n" +
			"variable (GitLab `id_tokens:`) or file that holds it. Neither token is ever printed.",
		Example: "  nora login --server https://nora.example.com\n" +
			"  nora login --server https://nora.example.com --id-token-env OIDC_TOKEN --write docker,npm",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogin(cmd.Context(), o, env, cmd.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&o.server, "server", "", "nora's base URL (https://nora.example.com)")
	f.StringVar(&o.idToken.audience, "audience", "", "the audience to ask GitHub Actions for (default: the --server URL)")
	f.StringVar(&o.idToken.envVar, "id-token-env", "", "take the ID token from this environment variable")
	f.StringVar(&o.idToken.file, "id-token-file", "", "take the ID token from this file")
	f.StringSliceVar(&o.write, "write", names, "the clients to write credentials for: "+strings.Join(names, ", "))
	f.StringVar(&o.home, "home", "", "the home directory the files go under (default $HOME)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on the token request and the exchange after this long")
	c.MarkFlagRequired("server")
	c.MarkFlagsMutuallyExclusive("id-token-env", "id-token-file")
	return c
}

// runLogin gets the ID token, exchanges it and writes the credentials,
// then reports what it wrote.
func runLogin(ctx context.Context, o loginOptions, env []string, out io.Writer) error {
	server, err := loginServer(o.server)
	if err != nil {
		return err
	}
	if err := checkWriteNames(o.write); err != nil {
		return err
	}
	home := o.home
	if home == "" {
		home = lookupEnv(env, "HOME")
	}
	if home == "" {
		return errors.New("no home directory: set HOME or pass --home")
	}
	if home, err = filepath.Abs(home); err != nil {
		return err
	}
	if o.idToken.audience == "" {
		o.idToken.audience = server.String()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client := &http.Client{}
	idToken, from, err := o.idToken.get(ctx, client, env)
	if err != nil {
		return err
	}
	claims := peekClaims(idToken)
	fmt.Fprintf(out, "ID token from %s: issuer %s, subject %s\n", from, orUnknown(claims.Issuer), orUnknown(claims.Subject))
	token, ttl, err := exchangeIDToken(ctx, client, server.String(), idToken)
	if err != nil {
		return err
	}
	if ttl > 0 {
		fmt.Fprintf(out, "nora token valid for %s, until %s\n", ttl, time.Now().Add(ttl).UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintln(out, "nora token issued (the server did not say for how long)")
	}
	return writeCredentials(loginTarget{server: server, token: token, home: home, env: env}, o.write, out)
}

// writeCredentials runs the writers named, all of them even when one
// fails, and reports each file written.
func writeCredentials(t loginTarget, names []string, out io.Writer) error {
	var errs []error
	for _, w := range credWriters {
		if !slices.Contains(names, w.name) {
			continue
		}
		done, err := w.write(t)
		for _, d := range done {
			fmt.Fprintf(out, "%-7s %s: %s\n", d.client+":", d.path, d.what)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
		}
	}
	return errors.Join(errs...)
}

// loginServer parses --server: an http or https base URL with neither
// credentials, query nor fragment. Plain http is allowed (a lab, a test).
func loginServer(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("--server %q: want nora's base URL, https://host[:port][/path]", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("--server %q: no user, query or fragment in the base URL", s)
	}
	return u, nil
}

// checkWriteNames trims the --write names and refuses unknown ones.
func checkWriteNames(names []string) error {
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
		if !slices.ContainsFunc(credWriters, func(w credWriter) bool { return w.name == names[i] }) {
			return fmt.Errorf("--write %q: want some of docker, npm, pip, cargo, maven", n)
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
