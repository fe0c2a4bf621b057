package offline

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/fault"
)

// Store is where import commits what it verified: blobs into the cache,
// manifests and tags as the docker handler's cached entries of the
// upstream the image name routes to.
type Store interface {
	// TempDir is where staged members are written (the cache's, so that
	// a commit is a rename and a crash leaves nothing at restart).
	TempDir() string
	// CommitBlob makes the closed temp file the blob d.
	CommitBlob(ctx context.Context, tmpPath string, d digest.Digest, size int64) error
	// SeedManifest records a committed blob as a manifest of mediaType.
	SeedManifest(ctx context.Context, d digest.Digest, mediaType string, body []byte) error
	// SeedTag points the cached tag of image name at manifest d.
	SeedTag(ctx context.Context, name, tag string, d digest.Digest, mediaType string, size int64) error
	// ImagesEnabled says why images cannot be imported, or nil.
	ImagesEnabled() error
	// PutRef stores a package's ref (a document's or a file's), whose
	// blob is committed.
	PutRef(ctx context.Context, key string, r cache.Ref) error
}

// Summary is what an import committed.
type Summary struct {
	Images   []string `json:"images"`
	Packages []string `json:"packages"` // the cache keys written
	Blobs    int      `json:"blobs"`
	Bytes    int64    `json:"bytes"`
}

// staged is a member read from the tar: in a temp file (blobs) or in
// memory (the small fixed files).
type staged struct {
	name string
	path string
	data []byte
	size int64
	sum  string
}

var blobNameRe = regexp.MustCompile(`^blobs/sha256/[a-f0-9]{64}$`)

// Import reads the tar from r, stages every member, verifies them all
// against their names and MANIFEST.json, and only then commits them to
// st. A damaged, truncated or foreign tar is refused (fault.Invalid)
// naming the first bad member, and nothing of it is committed.
func Import(ctx context.Context, r io.Reader, st Store) (Summary, error) {
	im := &importer{st: st, byName: map[string]*staged{}}
	defer im.cleanup()
	if err := im.read(ctx, r); err != nil {
		return Summary{}, err
	}
	if err := im.verify(); err != nil {
		return Summary{}, err
	}
	p, err := im.plan()
	if err != nil {
		return Summary{}, err
	}
	return im.commit(ctx, p)
}

type importer struct {
	st       Store
	members  []*staged // in tar order
	byName   map[string]*staged
	manifest *Manifest
}

func (im *importer) cleanup() {
	for _, s := range im.members {
		if s.path != "" {
			os.Remove(s.path)
		}
	}
}

func bad(format string, a ...any) error { return fault.Newf(fault.Invalid, format, a...) }

// read stages every member up to MANIFEST.json, which must be last.
func (im *importer) read(ctx context.Context, r io.Reader) error {
	raw := &zeroPad{r: r}
	tr := tar.NewReader(raw)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bad("the tar is damaged %s: %v", im.after(), err)
		}
		if im.manifest != nil {
			return bad("member %q comes after %s, which must be last", hdr.Name, ManifestName)
		}
		raw.member(hdr.Size)
		if err := im.member(hdr, tr); err != nil {
			return err
		}
	}
	if err := raw.rest(); err != nil {
		return bad("the tar is damaged %s: %v", im.after(), err)
	}
	if im.manifest == nil {
		return bad("the tar ends %s without %s: truncated, or not a nora export", im.after(), ManifestName)
	}
	return nil
}

// after words where in the tar reading stopped.
func (im *importer) after() string {
	if len(im.members) == 0 {
		return "at its start"
	}
	return fmt.Sprintf("after member %q", im.members[len(im.members)-1].name)
}

func (im *importer) member(hdr *tar.Header, tr io.Reader) error {
	name := hdr.Name
	if hdr.Typeflag != tar.TypeReg || hdr.Size < 0 {
		return bad("member %q is not a regular file", name)
	}
	if im.byName[name] != nil {
		return bad("member %q is in the tar twice", name)
	}
	s := &staged{name: name, size: hdr.Size}
	var err error
	switch {
	case blobNameRe.MatchString(name):
		err = im.stageFile(s, tr)
	case strings.HasPrefix(name, packagesDir):
		if _, ok := entryKey(name); !ok {
			return bad("member %q is not a package file nora imports", name)
		}
		err = im.stageFile(s, tr)
	case name == LayoutName, name == IndexName, name == ManifestName, name == PackagesName:
		err = stageMemory(s, tr)
	default:
		return bad("member %q is not part of a nora export", name)
	}
	if s.path != "" || s.data != nil {
		im.members = append(im.members, s)
		im.byName[name] = s
	}
	if err != nil {
		return err
	}
	if blobNameRe.MatchString(name) && s.sum != strings.TrimPrefix(name, blobsDir) {
		return bad("member %q is damaged: its sha256 is %s", name, s.sum)
	}
	if name == ManifestName {
		return im.readManifest(s)
	}
	return nil
}

// stageFile copies a member into a temp file, hashing it.
func (im *importer) stageFile(s *staged, tr io.Reader) error {
	f, err := os.CreateTemp(im.st.TempDir(), "import-*")
	if err != nil {
		return fault.Wrap(fault.Internal, err, "cannot stage the import")
	}
	s.path = f.Name()
	h := sha256.New()
	rd := &tarReader{r: tr}
	n, err := io.Copy(f, io.TeeReader(rd, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && rd.err == nil {
		// The disk refused, not the tar.
		return fault.Wrap(fault.KindOf(err), err, "cannot stage the import")
	}
	return s.done(n, h, rd.err)
}

// tarReader keeps the tar's own read error apart from the disk's.
type tarReader struct {
	r   io.Reader
	err error
}

func (t *tarReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// done checks the member was read whole and keeps its sha256.
func (s *staged) done(n int64, h hash.Hash, err error) error {
	if err != nil || n != s.size {
		return bad("member %q is truncated (%d of %d bytes): %v", s.name, n, s.size, err)
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return nil
}

func stageMemory(s *staged, tr io.Reader) error {
	if s.size > maxMeta {
		return bad("member %q is larger than %d bytes", s.name, maxMeta)
	}
	h := sha256.New()
	b, err := io.ReadAll(io.TeeReader(tr, h))
	s.data = b
	if s.data == nil {
		s.data = []byte{}
	}
	return s.done(int64(len(b)), h, err)
}

// zeroPad reads the raw tar and refuses a non-zero byte where the tar
// has only zeros: the padding after a member's bytes, which the tar
// reader skips unread, and what follows the end of the archive. So one
// flipped byte anywhere is refused: headers have their checksum, member
// bytes their sha256, padding this.
type zeroPad struct {
	r       io.Reader
	n       int64 // bytes read so far
	padFrom int64
	padTo   int64
}

// member is called when a member's header has been read: its bytes
// start here, and its padding follows them.
func (z *zeroPad) member(size int64) {
	z.padFrom = z.n + size
	z.padTo = (z.padFrom + 511) &^ 511
}

func (z *zeroPad) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	for i := max(z.padFrom-z.n, 0); i < int64(n) && z.n+i < z.padTo; i++ {
		if p[i] != 0 {
			return 0, errors.New("a non-zero byte in the padding of a member")
		}
	}
	z.n += int64(n)
	return n, err
}

// rest reads what follows the end of the archive: zeros only.
func (z *zeroPad) rest() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := z.r.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return errors.New("a non-zero byte after the end of the archive")
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
