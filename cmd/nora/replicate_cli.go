package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"nora/proxy/admin"
	"nora/proxy/replicate"
)

// newReplicateCmd is nora replicate --to NAME | --from NAME --match GLOB...
func newReplicateCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var req replicate.Request
	var asJSON bool
	c := &cobra.Command{
		Use:   "replicate (--to NAME | --from NAME) --match GLOB...",
		Short: "Copy hosted images and packages to or from another nora",
		Long: `Copy hosted images and packages to or from another nora: the running server does the
run, this command follows it. --to and --from name a [[replication.remotes]] entry; --from
may also name a [[docker.upstreams]] entry, whose images are pulled through this nora's cache
and stored under --prefix (or "--to local/PREFIX", the same); list the prefix in [docker]
hosted_names ("mirror/**"), or the blob checks of a name not yet pushed may be answered by
the upstream and the push fail.

--match takes globs "name:tag" (images only) or "name@version" (packages only), "/"
separating the name's parts ("*" stays within one); a glob without a tag or version matches
every tag of an image and every version of a package. Packages are listed through the
source's admin API: --from a nora needs a token with the admin permission there for them. An image goes
with all its platforms, its cosign-style signature tags and its referrers, blob by blob: a blob
the target has is not sent, so a second run sends nothing and a run cut off is completed by
the next. The exit code is 1 when an item failed; each failure is printed with its reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			localTarget(&req)
			if err := req.Check(); err != nil {
				return err
			}
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			return cl.replicate(cmd.Context(), req, asJSON)
		},
	}
	configFlag(c)
	c.Flags().StringVar(&req.To, "to", "", "the remote to copy to")
	c.Flags().StringVar(&req.From, "from", "", "the remote (or docker upstream) to copy from")
	c.Flags().StringArrayVar(&req.Match, "match", nil, "what to copy: name:tag or name@version globs (repeatable)")
	c.Flags().StringVar(&req.Prefix, "prefix", "", "put before the names on the target, such as mirror/")
	c.Flags().BoolVar(&req.DryRun, "dry-run", false, "list what would be sent, send nothing")
	c.Flags().BoolVar(&asJSON, "json", false, "print the final state, every item's outcome, as JSON")
	return c
}

// localTarget reads "--from X --to local/PREFIX" (this nora, under
// PREFIX) as --prefix PREFIX.
func localTarget(req *replicate.Request) {
	if p, ok := strings.CutPrefix(req.To, "local/"); ok && req.From != "" && req.Prefix == "" {
		req.To, req.Prefix = "", p
	}
}

// replicate starts the run, follows it and prints its report.
func (c *adminCLI) replicate(ctx context.Context, req replicate.Request, asJSON bool) error {
	st, err := c.client.StartReplicate(ctx, req)
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		var other replicate.State
		if json.Unmarshal(ae.Detail, &other) == nil && !other.Started.IsZero() {
			return fmt.Errorf("cannot start the replication: another one (%s) has been running since %s; try again when it is done",
				other.Trigger, other.Started.Local().Format(time.DateTime))
		}
	}
	if err != nil {
		return c.explain("cannot start the replication", err)
	}
	if st, err = c.followReplicate(ctx, st, asJSON); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
	} else {
		printReplicate(c.stdout, st)
	}
	switch {
	case st.Error != "":
		return fmt.Errorf("replicate: %s", st.Error)
	case st.Report != nil && st.Report.Failed > 0:
		return fmt.Errorf("replicate: %d of %d items failed", st.Report.Failed, len(st.Report.Items))
	}
	return nil
}

// followReplicate polls the run until it ends, showing its progress.
func (c *adminCLI) followReplicate(ctx context.Context, st replicate.State, asJSON bool) (replicate.State, error) {
	started := st.Started
	view := c.itemProgress(ctx, "replicate", " sent", asJSON)
	var err error
	for st.State == replicate.Running {
		view.update(int64(st.Done), int64(st.Items), st.Bytes, st.State == replicate.Running)
		select {
		case <-ctx.Done():
			view.finish(false)
			return st, ctx.Err()
		case <-time.After(pollInterval):
		}
		if st, err = c.client.Replicate(ctx); err != nil {
			view.finish(false)
			return st, c.explain("cannot follow the replication", err)
		}
		if !st.Started.Equal(started) {
			view.finish(false)
			return st, errors.New("replicate: another run started before the end of this one was seen")
		}
	}
	view.update(int64(st.Done), int64(st.Items), st.Bytes, st.State == replicate.Running)
	view.finish(true)
	return st, nil
}

// printReplicate prints the totals, then each failed item with its reason.
func printReplicate(w io.Writer, st replicate.State) {
	rp := st.Report
	if rp == nil {
		return
	}
	verb := "copied"
	if st.Request.DryRun {
		verb = "to copy"
	}
	fmt.Fprintf(w, "replicate: %d %s, %d already there, %d failed (%s sent)\n",
		rp.Copied, verb, rp.Skipped, rp.Failed, humanSize(rp.Bytes))
	for _, r := range rp.Items {
		switch r.Status {
		case replicate.StatusFailed:
			fmt.Fprintf(w, "failed: %s %s %s: %s\n", r.Format, r.Name, r.Version, r.Reason)
		case replicate.StatusDry:
			fmt.Fprintf(w, "would copy: %s %s %s (%s)\n", r.Format, r.Name, r.Version, humanSize(r.Bytes))
		}
	}
}
