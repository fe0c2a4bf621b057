package cargo

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// maxUnpackedBytes bounds what a .crate may unpack to (cargo's own limit
// when it extracts one), so a small gzip bomb cannot keep nora busy.
const maxUnpackedBytes = 512 << 20

// checkCrate reads the .crate r (a gzip-compressed tar), which may unpack
// to at most limit bytes, to its end. cargo
// sends no checksum with a publish, so the format's own integrity checks
// stand in: gzip's CRC-32 and length catch flipped or missing bytes, and
// the archive must be what cargo packages for name vers: every entry below
// "<name>-<vers>/", Cargo.toml among them, nothing after the gzip stream.
func checkCrate(r io.Reader, name, vers string, limit int64) error {
	br := bufio.NewReader(r)
	gz, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("the .crate is not gzip data: %w", err)
	}
	gz.Multistream(false)
	lim := &io.LimitedReader{R: gz, N: limit + 1}
	tr := tar.NewReader(lim)
	root := name + "-" + vers + "/"
	manifest := false
	unpacked := limit
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return crateReadError(lim, limit, err)
		}
		if !strings.HasPrefix(h.Name, root) || path.Clean(h.Name) != strings.TrimSuffix(h.Name, "/") ||
			strings.Contains(h.Name, "\\") {
			return fmt.Errorf("the .crate holds %q, outside %s", h.Name, root)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
		default:
			return fmt.Errorf("the .crate holds %q of a type cargo does not package", h.Name)
		}
		if h.Name == root+"Cargo.toml" && h.Typeflag == tar.TypeReg {
			manifest = true
		}
		// Counted on the tar side too: the holes of a sparse entry come
		// out as zeros without reading any input.
		n, err := io.Copy(io.Discard, io.LimitReader(tr, unpacked+1))
		if unpacked -= n; unpacked < 0 {
			return fmt.Errorf("the .crate unpacks to more than %d bytes", limit)
		}
		if err != nil {
			return crateReadError(lim, limit, err)
		}
	}
	// The end-of-archive blocks may be followed by padding; the gzip
	// trailer (CRC-32, length) is checked when the stream is read to its
	// end.
	if _, err := io.Copy(io.Discard, lim); err != nil {
		return crateReadError(lim, limit, err)
	}
	if lim.N <= 0 {
		return fmt.Errorf("the .crate unpacks to more than %d bytes", limit)
	}
	if _, err := br.Peek(1); !errors.Is(err, io.EOF) {
		return errors.New("the .crate has bytes after its gzip stream")
	}
	if !manifest {
		return fmt.Errorf("the .crate has no %sCargo.toml", root)
	}
	return nil
}

func crateReadError(lim *io.LimitedReader, limit int64, err error) error {
	if lim.N <= 0 {
		return fmt.Errorf("the .crate unpacks to more than %d bytes", limit)
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("the .crate is corrupt: %w", err)
	}
	return fmt.Errorf("the .crate is not a valid archive: %w", err)
}
