package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nora/proxy/inventory"
)

// newCacheCmd returns `nora cache ls|evict`: the proxied content the
// running server holds.
func newCacheCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var asJSON bool
	var format string
	var limit int
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List what the cache holds of proxied images and packages",
		Long: "List cached image tags and package files, most recently accessed first: format, name,\n" +
			"item (tag or file), size and last access, and the key nora cache evict takes. The store is\n" +
			"read until --limit items are found, so with more cached the list is a part of it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			raw, err := cl.client.Cached(cmd.Context(), format, limit)
			if err != nil {
				return cl.explain("cannot list the cache", err)
			}
			if asJSON {
				return printJSON(cl.stdout, raw)
			}
			return printCached(cl.stdout, raw)
		},
	}
	configFlag(ls)
	ls.Flags().StringVar(&format, "format", "", "only this format: docker, npm, pypi, maven or cargo")
	ls.Flags().IntVar(&limit, "limit", inventory.DefaultLimit, fmt.Sprintf("list at most this many items (at most %d)", inventory.MaxItems))
	ls.Flags().BoolVar(&asJSON, "json", false, `print the admin API's answer: {"cached": [...]}`)

	evict := &cobra.Command{
		Use:   "evict REF",
		Short: "Drop cached proxied content now; the next pull fetches it again",
		Long: "Drop from the cache what REF names, as eviction would: a key nora cache ls prints (one\n" +
			"image tag or file), FORMAT:NAME for every cached file of a package (npm:lodash,\n" +
			"maven:com.acme:lib), or UPSTREAM/REPOSITORY[:TAG] for a cached image with its manifests\n" +
			"and layers. Hosted content is never evicted (an error); bytes a hosted image or package\n" +
			"shares stay.",
		Example: "  nora cache evict npm:left-pad\n  nora cache evict docker.io/library/alpine:3.20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			raw, err := cl.client.Evict(cmd.Context(), args[0])
			if err != nil {
				return cl.explain("cannot evict "+args[0], err)
			}
			var ev inventory.Evicted
			_ = json.Unmarshal(raw, &ev)
			fmt.Fprintf(cl.stdout, "evicted %s: %d items, %d objects, %s freed\n", args[0], ev.Items, ev.Objects, humanSize(ev.Bytes))
			return nil
		},
	}
	configFlag(evict)
	c := &cobra.Command{Use: "cache", Short: "Proxied content the running server caches", Args: cobra.NoArgs}
	c.AddCommand(ls, evict)
	return addRemote(c)
}

// printCached writes the answer of GET /api/v1/cache as a table.
func printCached(w io.Writer, raw json.RawMessage) error {
	var ans struct {
		Cached []inventory.Cached `json:"cached"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("cannot read the admin API's answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FORMAT\tNAME\tITEM\tSIZE\tLAST ACCESS\tKEY")
	for _, c := range ans.Cached {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Format, c.Name, c.Item, humanSize(c.Size), when(c.LastAccess), c.Key)
	}
	return tw.Flush()
}

// newContentCmds are images, packages and cache: what is on the box.
func newContentCmds(socket socketFunc, configFlag func(*cobra.Command)) []*cobra.Command {
	return []*cobra.Command{newImagesCmd(socket, configFlag), newPackagesCmd(socket, configFlag), newCacheCmd(socket, configFlag)}
}
