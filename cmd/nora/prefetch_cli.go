package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"nora/proxy/admin"
	"nora/proxy/prefetch"
)

// newPrefetchCmd is nora prefetch -f LIST [--platform P] [--json].
func newPrefetchCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var file, platform string
	var asJSON bool
	c := &cobra.Command{
		Use:   "prefetch -f LIST",
		Short: "Warm the cache with a list of images and packages",
		Long: `Warm the cache with a list of images and packages: the running server fetches each
item through its own handlers, as a client pulling it would, and reports each as fetched,
already there (cached) or failed. One item a line, # starts a comment:

  nginx:1.27                     image by tag (the first part selects the upstream, as in pulls)
  library/nginx@sha256:...       image by digest
  lodash@^4.17   @scope/x@~1.2   npm: the highest version matching the range (or a dist-tag)
  requests==2.32.3               PyPI: every file of the version (wheels and sdist)
  org.slf4j:slf4j-api:2.0.13     Maven: the .pom, and the .jar unless the packaging is pom
  cargo:serde@1.0.200            a crate (name@version alone is npm)

A line may start with docker:, npm:, pypi:, maven: or cargo: to name its format. An image
index is fetched for every platform unless --platform narrows it. The exit code is 1 when an
item failed. The command follows the run; interrupting it does not stop the server's run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := readList(cmd, file)
			if err != nil {
				return err
			}
			if platform != "" {
				if err := prefetch.ValidPlatform(platform); err != nil {
					return fmt.Errorf("--platform: %w", err)
				}
			}
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			return cl.prefetch(cmd.Context(), list, platform, asJSON)
		},
	}
	configFlag(c)
	c.Flags().StringVarP(&file, "file", "f", "", "the list: a file, or - for standard input (required)")
	c.Flags().StringVar(&platform, "platform", "", "only this platform of an image index: os/arch[/variant], such as linux/arm64")
	c.Flags().BoolVar(&asJSON, "json", false, "print the final state, every item's outcome, as JSON")
	_ = c.MarkFlagRequired("file")
	return c
}

// readList reads -f: a file or standard input, at most the server's cap.
func readList(cmd *cobra.Command, file string) ([]byte, error) {
	var r io.Reader = cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, prefetch.MaxListSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > prefetch.MaxListSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, prefetch.MaxListSize)
	}
	return b, nil
}

// prefetch posts the list, follows the run and prints its summary.
func (c *adminCLI) prefetch(ctx context.Context, list []byte, platform string, asJSON bool) error {
	st, err := c.client.StartPrefetch(ctx, list, platform)
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		var other prefetch.State
		if json.Unmarshal(ae.Detail, &other) == nil && !other.Started.IsZero() {
			return fmt.Errorf("cannot start the prefetch: another one (%s) has been running since %s, %d of %d items done; try again when it is done",
				other.Trigger, other.Started.Local().Format(time.DateTime), other.Progress.Done, other.Progress.Total)
		}
	}
	if err != nil {
		return c.explain("cannot start the prefetch", err)
	}
	started := st.Started
	view := c.itemProgress(ctx, "prefetch", "", asJSON)
	for st.State == prefetch.Running {
		view.update(st.Progress.Done, st.Progress.Total, st.Progress.Bytes, st.State == prefetch.Running)
		select {
		case <-ctx.Done():
			view.finish(false)
			return ctx.Err()
		case <-time.After(pollInterval):
		}
		if st, err = c.client.Prefetch(ctx); err != nil {
			view.finish(false)
			return c.explain("cannot follow the prefetch", err)
		}
		if !st.Started.Equal(started) {
			view.finish(false)
			return errors.New("prefetch: another run started before the end of this one was seen")
		}
	}
	view.update(st.Progress.Done, st.Progress.Total, st.Progress.Bytes, st.State == prefetch.Running)
	view.finish(true)
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
	} else {
		printPrefetch(c.stdout, st)
	}
	if st.Summary != nil && st.Summary.Failed > 0 {
		// The exit code 1 tells scripts; the summary said which.
		return fmt.Errorf("prefetch: %d of %d items failed", st.Summary.Failed, len(st.Summary.Items))
	}
	return nil
}

// printPrefetch prints the totals, then each failed item with its reason.
func printPrefetch(w io.Writer, st prefetch.State) {
	s := st.Summary
	if s == nil {
		return
	}
	took := ""
	if st.Finished != nil {
		took = " in " + st.Finished.Sub(st.Started).Round(time.Second).String()
	}
	fmt.Fprintf(w, "prefetch: %d fetched, %d already there, %d failed (%s read%s)\n",
		s.Fetched, s.Cached, s.Failed, humanSize(st.Progress.Bytes), took)
	for _, r := range s.Items {
		if r.Status == prefetch.Failed {
			fmt.Fprintf(w, "failed: line %d: %s: %s\n", r.Line, r.Text, r.Reason)
		}
	}
}
