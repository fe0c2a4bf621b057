package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// newImportCmd is nora import FILE.
func newImportCmd(socket socketFunc, configFlag func(*cobra.Command)) *cobra.Command {
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a tar that nora export wrote into the cache",
		Long: `Load a tar that nora export wrote (FILE, or - for standard input) into the running
server's cache. Every member is checked against its name and against the tar's MANIFEST.json
before any of it is stored; a damaged or truncated tar is refused, naming the first bad
member, and leaves nothing behind. The images and packages are then served as cached
content of the upstream they came from (images: the upstream their names lead to), with their
original tags and digests, also when that upstream cannot be reached.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			cl, err := newAdminCLI(cmd, socket)
			if err != nil {
				return err
			}
			sum, err := cl.client.Import(cmd.Context(), r)
			if err != nil {
				return cl.explain("import", err)
			}
			for _, im := range sum.Images {
				fmt.Fprintf(cl.stdout, "imported %s\n", im)
			}
			fmt.Fprintf(cl.stdout, "%d images, %d package files and documents, %d blobs, %d bytes\n", len(sum.Images), len(sum.Packages), sum.Blobs, sum.Bytes)
			return nil
		},
	}
	configFlag(c)
	return c
}
