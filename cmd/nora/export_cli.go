package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"nora/proxy/prefetch"
)

// newExportCmd is nora export -f LIST -o FILE [--platform P].
func newExportCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	var file, out, platform string
	c := &cobra.Command{
		Use:   "export -f LIST -o FILE",
		Short: "Write the images and packages of a list into one tar, for a site with no network",
		Long: `Write the images and packages of a list into one tar that nora import loads at a site
with no network. The running server fetches each item through its own handlers (from its cache,
or from the upstream on a miss) and streams the tar: an OCI image layout (oci-layout, index.json
naming each image, blobs/sha256/...), the package documents and files as nora cached them from
the upstream (npm packuments and tarball, the PyPI page and the version's files, the Maven .pom
and .jar, the cargo index file and .crate; under packages/, listed in packages.json) and, last,
MANIFEST.json with the size and sha256 of every other member. The list is prefetch's (see nora
prefetch --help). An image index is exported for every platform unless --platform narrows it.
The tar is written to FILE.partial and renamed to FILE when whole.`,
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
			return cl.export(cmd, list, platform, out)
		},
	}
	configFlag(c)
	c.Flags().StringVarP(&file, "file", "f", "", "the list: a file, or - for standard input (required)")
	c.Flags().StringVarP(&out, "output", "o", "", "the tar to write (required)")
	c.Flags().StringVar(&platform, "platform", "", "only this platform of an image index: os/arch[/variant], such as linux/arm64")
	_ = c.MarkFlagRequired("file")
	_ = c.MarkFlagRequired("output")
	return c
}

// export streams the tar into out.partial, then renames it to out: a cut
// export never leaves a file that looks whole.
func (c *adminCLI) export(cmd *cobra.Command, list []byte, platform, out string) error {
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n, err := c.client.Export(cmd.Context(), list, platform, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
		return c.explain("export", err)
	}
	fmt.Fprintf(c.stdout, "wrote %s: %d bytes\n", filepath.Clean(out), n)
	return nil
}
