package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nora/proxy/inventory"
)

// newImagesCmd returns `nora images ls|tag|delete`: hosted and cached
// images of the running server, from its admin API.
func newImagesCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls [REPOSITORY]",
		Short: "List the hosted and cached images with their tags",
		Long: "List the hosted repositories, then the proxied ones the cache holds (named\n" +
			"<upstream>/<repository>), one line per tag: digest, size (manifest, config and layers;\n" +
			"an index: its stored children's too), platforms, when it was pushed or fetched and last\n" +
			"pulled. With REPOSITORY only that one; a repository with no tag on this nora is an error\n" +
			"(exit code 1).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			repo := ""
			if len(args) == 1 {
				repo = args[0]
			}
			raw, err := cl.client.Images(cmd.Context(), repo)
			if err != nil {
				return cl.explain("cannot list images", err)
			}
			if asJSON {
				return printJSON(cl.stdout, raw)
			}
			return printImages(cl.stdout, raw)
		},
	}
	configFlag(ls)
	ls.Flags().BoolVar(&asJSON, "json", false, `print the admin API's answer: {"images": [...]}`)
	images := &cobra.Command{Use: "images", Short: "Images on the running server: list, tag, delete", Args: cobra.NoArgs}
	images.AddCommand(ls, newImagesTagCmd(socket, configFlag), newImagesDeleteCmd(socket, configFlag))
	return addRemote(images)
}

// newImagesTagCmd is nora images tag SOURCE TARGET.
func newImagesTagCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	tag := &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Put a tag on a hosted image",
		Long: "Put tag TARGET (repository:tag) on the hosted manifest SOURCE (repository:tag or\n" +
			"repository@sha256:...) names, as a push of the same manifest would; TARGET's repository\n" +
			"is created if new. Proxied images cannot be tagged.",
		Example: "  nora images tag team/app:1.4.2 team/app:stable",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			raw, err := cl.client.TagImage(cmd.Context(), args[0], args[1])
			if err != nil {
				return cl.explain("cannot tag "+args[0], err)
			}
			var t inventory.Tag
			_ = json.Unmarshal(raw, &t)
			fmt.Fprintf(cl.stdout, "tagged %s (%s)\n", args[1], t.Digest)
			return nil
		},
	}
	configFlag(tag)
	return tag
}

// newImagesDeleteCmd is nora images delete REF.
func newImagesDeleteCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	del := &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a hosted tag or manifest",
		Long: "Delete a hosted tag (repository:tag; its manifest stays for other tags) or manifest\n" +
			"(repository@sha256:..., with every tag on it). A gc then frees the blobs nothing needs\n" +
			"any more. Proxied images are not deleted: nora cache evict drops them from the cache.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			if err := cl.client.DeleteImage(cmd.Context(), args[0]); err != nil {
				return cl.explain("cannot delete "+args[0], err)
			}
			fmt.Fprintf(cl.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
	configFlag(del)
	return del
}

// printImages writes the answer of GET /api/v1/images as a table.
func printImages(w io.Writer, raw json.RawMessage) error {
	var ans struct {
		Images []inventory.Image `json:"images"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("cannot read the admin API's answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tSIZE\tPLATFORMS\tCREATED\tLAST PULL\tKIND")
	for _, img := range ans.Images {
		kind := kindOf(img.Hosted)
		if len(img.Tags) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\n", img.Repository, kind)
		}
		for _, t := range img.Tags {
			plat := strings.Join(t.Platforms, ",")
			if plat == "" {
				plat = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", img.Repository, t.Tag, shortDigest(string(t.Digest)),
				humanSize(t.Size), plat, when(t.Created), when(t.LastPull), kind)
		}
	}
	return tw.Flush()
}

func kindOf(hosted bool) string {
	if hosted {
		return "hosted"
	}
	return "cached"
}

// shortDigest is the first 12 hex digits of a digest, as docker shows it.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) < 12 {
		return d
	}
	return hex[:12]
}

// when is t in local time to the minute, "-" if unknown.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// printJSON writes an answer of the admin API indented.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
