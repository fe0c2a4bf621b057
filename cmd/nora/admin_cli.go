package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"nora/proxy/admin"
)

// socketFunc finds the admin socket of the server the config describes; it
// returns the socket and the config's name.
type socketFunc func() (socket, source string, err error)

// newAdminCmds returns gc, retention, reindex and storage: thin clients of
// a running server's admin API on its unix socket (DESIGN 3.5).
func newAdminCmds(socket socketFunc, configFlag func(*cobra.Command)) []*cobra.Command {
	job := func(name, short, long string, dryRun bool) *cobra.Command {
		var dry, asJSON bool
		c := &cobra.Command{
			Use:   name,
			Short: short,
			Long:  long,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cl, err := newAdminCLI(cmd, socket)
				if err != nil {
					return err
				}
				return cl.runJob(cmd.Context(), name, dry, asJSON)
			},
		}
		configFlag(c)
		if dryRun {
			c.Flags().BoolVar(&dry, "dry-run", false, "report what would be removed, remove nothing")
		}
		c.Flags().BoolVar(&asJSON, "json", false, "print the final job state as JSON, nothing else")
		return c
	}
	const after = "\n\nIt asks the running server, on its admin socket (or with --server on its listener), and waits for the end." +
		" Interrupting the command does not stop the server's run."
	gc := job("gc", "Remove hosted blobs that nothing refers to",
		"Remove hosted blobs that no manifest, tag or package needs any more and that are older than\n"+
			"[gc] grace; with [gc] delete_untagged also manifests that no tag reaches."+after, true)
	ret := job("retention", "Trim hosted tags and SNAPSHOT builds by the [[retention]] rules",
		"Trim hosted tags and Maven SNAPSHOT builds by the [[retention]] rules; a gc afterwards\n"+
			"frees what they referred to."+after, true)
	reindex := job("reindex", "Rebuild the local index from the store",
		"Rebuild the local index from the store: objects the index misses are added, entries\n"+
			"whose object is gone are dropped."+after, false)

	var asJSON bool
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Print storage usage and eviction counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			return cl.stats(cmd.Context(), asJSON)
		},
	}
	configFlag(stats)
	stats.Flags().BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	storage := &cobra.Command{Use: "storage", Short: "Storage of the running server", Args: cobra.NoArgs}
	storage.AddCommand(stats)
	return []*cobra.Command{addRemote(gc), addRemote(ret), addRemote(reindex), addRemote(storage)}
}

// adminCLI runs one admin command.
type adminCLI struct {
	client *admin.Client
	// socket is the admin socket, or the --server URL when remote.
	socket, source string
	remote         bool
	stdout, stderr io.Writer
}

// newAdminCLI is the client of the admin socket, or of the --server the
// command's remote flags (addRemote) name, writing to cmd's outputs.
func newAdminCLI(cmd *cobra.Command, socket socketFunc) (*adminCLI, error) {
	var f remoteFlags
	fl := cmd.Flags()
	if fl.Lookup("server") != nil {
		f.server, _ = fl.GetString("server")
		f.token, _ = fl.GetString("token")
		f.cacert, _ = fl.GetString("cacert")
	}
	if f.server != "" || f.token != "" || f.cacert != "" {
		return f.remote(cmd)
	}
	sock, source, err := socket()
	if err != nil {
		return nil, err
	}
	return &adminCLI{client: admin.NewClient(sock), socket: sock, source: source,
		stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}, nil
}

// remoteFlags are --server, --token and --cacert: the admin API of a nora
// on its normal listener, for a caller with the admin permission, instead
// of the local socket.
type remoteFlags struct{ server, token, cacert string }

func (f *remoteFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.server, "server", "",
		"ask the nora at this base URL (https://nora.example.com) over HTTP(S) instead of the local admin socket")
	c.Flags().StringVar(&f.token, "token", "", "with --server: an API token with the admin permission")
	c.Flags().StringVar(&f.cacert, "cacert", "", "with --server: also trust the CA certificates in this PEM file (the site CA)")
}

// addRemote gives every command of c that runs, and has none yet, the
// remote flags; it returns c.
func addRemote(c *cobra.Command) *cobra.Command {
	if c.RunE != nil && c.Flags().Lookup("server") == nil {
		(&remoteFlags{}).add(c)
	}
	for _, sub := range c.Commands() {
		addRemote(sub)
	}
	return c
}

// client is the adminCLI of the socket, or of --server.
func (f *remoteFlags) client(cmd *cobra.Command, socket socketFunc) (*adminCLI, error) {
	return newAdminCLI(cmd, socket)
}

// remote is the adminCLI of --server.
func (f *remoteFlags) remote(cmd *cobra.Command) (*adminCLI, error) {
	if f.server == "" && f.token != "" {
		return nil, errors.New("--token goes with --server (the admin socket needs none)")
	}
	if f.server == "" {
		return nil, errors.New("--cacert goes with --server (the admin socket needs none)")
	}
	cl, err := admin.NewRemoteClient(f.server, f.token)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	if f.cacert != "" {
		b, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		if err := cl.TrustCA(b); err != nil {
			return nil, fmt.Errorf("--cacert %s: %w", f.cacert, err)
		}
	}
	return &adminCLI{client: cl, socket: f.server, source: "--server", remote: true,
		stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}, nil
}

// pollInterval is how often a running job's state is asked for.
const pollInterval = 200 * time.Millisecond

// runJob starts the job, follows its progress and prints its outcome.
func (c *adminCLI) runJob(ctx context.Context, name string, dry, asJSON bool) error {
	st, err := c.client.Start(ctx, name, dry)
	if err != nil {
		return c.explain("cannot start "+name, err)
	}
	started := st.Started
	var view progressView
	if isTerminal(c.stdout) && !asJSON {
		view = newBar(ctx, c.stdout, name, dry)
	} else {
		view = &plainProgress{w: c.stderr, name: name, last: time.Now(), every: 5 * time.Second, now: time.Now}
	}
	for st.State == admin.Running {
		view.update(st.Progress)
		select {
		case <-ctx.Done():
			view.finish(false)
			return ctx.Err()
		case <-time.After(pollInterval):
		}
		if st, err = c.client.Job(ctx, name); err != nil {
			view.finish(false)
			return c.explain("cannot follow "+name, err)
		}
		if !st.Started.Equal(started) {
			view.finish(false)
			return fmt.Errorf("%s: another run started before the end of this one was seen", name)
		}
	}
	view.update(st.Progress)
	view.finish(st.State == admin.Done)

	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
	} else if st.State == admin.Done {
		if err := printResult(c.stdout, name, st); err != nil {
			return err
		}
	}
	if st.State == admin.Failed {
		return fmt.Errorf("%s failed: %s", name, st.Error)
	}
	return nil
}

// stats prints GET /api/v1/storage/stats.
func (c *adminCLI) stats(ctx context.Context, asJSON bool) error {
	raw, err := c.client.Stats(ctx)
	if err != nil {
		return c.explain("cannot get storage stats", err)
	}
	if asJSON {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := c.stdout.Write(b.Bytes())
		return err
	}
	return printFields(c.stdout, raw, []string{"proxied_bytes", "hosted_bytes", "max_size", "min_free",
		"free_bytes", "total_bytes", "objects", "evictions", "evicted_bytes"})
}

// explain turns a failed call into what the user can act on.
func (c *adminCLI) explain(what string, err error) error {
	var ue *url.Error
	if c.remote && errors.As(err, &ue) {
		return fmt.Errorf("cannot reach nora at %s: %w", c.socket, ue.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		switch {
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("cannot open the admin socket %s: permission denied: it is for root and the socket's group (sudo nora ...)", c.socket)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("cannot reach nora at %s: is it running? (%v; the socket is [server] admin_socket, else admin.sock in [storage] path, of %s)",
				c.socket, errors.Unwrap(op.Err), c.source)
		}
		return fmt.Errorf("cannot reach nora at %s: %w", c.socket, err)
	}
	var ae *admin.Error
	if c.remote && errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		return fmt.Errorf("%s: %s (%s answered %d: --token must be an API token holding the admin permission)",
			what, ae.Message, c.socket, ae.Status)
	}
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		var other admin.JobState
		if json.Unmarshal(ae.Detail, &other) == nil && other.Name != "" {
			return fmt.Errorf("%s: %s has been running since %s; try again when it is done",
				what, other.Name, other.Started.Local().Format(time.DateTime))
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isTerminal tells whether w is a terminal a progress bar can be drawn
// on: mpb draws nothing on one without a width (a serial console, script).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil && ws.Col > 0
}

// progressView shows a running job's progress.
type progressView interface {
	update(p admin.Progress)
	finish(ok bool)
}

// bar is the progress bar on a terminal.
type bar struct {
	p *mpb.Progress
	b *mpb.Bar
}

func newBar(ctx context.Context, w io.Writer, name string, dry bool) *bar {
	if dry {
		name += " (dry run)"
	}
	p := mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40))
	b := p.AddBar(0,
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
	return &bar{p, b}
}

func (b *bar) update(p admin.Progress) {
	if p.Total > 0 {
		b.b.SetTotal(p.Total, false)
	}
	b.b.SetCurrent(p.Done)
}

func (b *bar) finish(ok bool) {
	if ok {
		b.b.SetTotal(-1, true)
	} else {
		b.b.Abort(false)
	}
	b.p.Wait()
}

// plainProgress writes a line now and then, for logs and pipes.
type plainProgress struct {
	w     io.Writer
	name  string
	last  time.Time
	every time.Duration
	now   func() time.Time
}

func (p *plainProgress) update(pr admin.Progress) {
	if now := p.now(); now.Sub(p.last) >= p.every {
		p.last = now
		if pr.Total > 0 {
			fmt.Fprintf(p.w, "%s: %d/%d (%d%%)\n", p.name, pr.Done, pr.Total, pr.Done*100/pr.Total)
		} else {
			fmt.Fprintf(p.w, "%s: %d done\n", p.name, pr.Done)
		}
	}
}

func (p *plainProgress) finish(bool) {}

// printResult prints a finished job's result: the removed items and a
// total line for gc and retention, the result's fields otherwise.
func printResult(w io.Writer, name string, st admin.JobState) error {
	raw, _ := st.Result.(json.RawMessage)
	var res struct {
		Removed *[]struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
			What string `json:"what"`
		} `json:"removed"`
		// GC lists at most its first items; these count them all.
		Count *int64 `json:"removed_count"`
		Freed *int64 `json:"freed_bytes"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &res) != nil || res.Removed == nil {
		fmt.Fprintf(w, "%s done\n", name)
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		return printFields(w, raw, []string{"objects", "added", "dropped", "proxied_bytes", "hosted_bytes"})
	}
	verb := "removed"
	if st.DryRun {
		verb = "would remove"
	}
	var total int64
	for _, it := range *res.Removed {
		total += it.Size
		line := verb + " " + it.Key
		switch {
		case it.Size > 0 && it.What != "":
			line += fmt.Sprintf("  %s (%s)", humanSize(it.Size), it.What)
		case it.Size > 0:
			line += "  " + humanSize(it.Size)
		case it.What != "":
			line += " (" + it.What + ")"
		}
		fmt.Fprintln(w, line)
	}
	n := int64(len(*res.Removed))
	if res.Count != nil && *res.Count > n {
		fmt.Fprintf(w, "... and %d more\n", *res.Count-n)
		n = *res.Count
	}
	if res.Freed != nil {
		total = *res.Freed
	}
	if st.DryRun {
		fmt.Fprintf(w, "would free %s (%d items)\n", humanSize(total), n)
	} else {
		fmt.Fprintf(w, "freed %s (%d items removed)\n", humanSize(total), n)
	}
	return nil
}

// printFields prints the fields of a JSON object one a line, those in
// order first, then the others by name; byte counts in human units.
func printFields(w io.Writer, raw json.RawMessage, order []string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		_, err := fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(order, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	width := 0
	for k := range m {
		width = max(width, len(k))
	}
	for _, k := range append(slices.Clone(order), keys...) {
		v, ok := m[k]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%-*s  %s\n", width+1, k+":", fieldValue(k, v))
	}
	return nil
}

func fieldValue(key string, v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil &&
		(strings.HasSuffix(key, "_bytes") || key == "max_size" || key == "min_free") {
		return humanSize(n)
	}
	return string(v)
}

// humanSize writes n bytes in binary units: "512 B", "1.5 GiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for ; (f >= unit || f <= -unit) && i < 5; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}
