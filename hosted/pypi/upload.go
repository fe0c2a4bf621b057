package pypi

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/blake2b"

	"nora/cache"
	"nora/internal/fault"
)

// Upload is the bytes of one distribution file on their way in: a temp
// file in the store's temp dir and the digests of what it holds. Publish
// commits it; Discard drops it. It is used by one request.
type Upload struct {
	file   *os.File
	size   int64
	sha256 hash.Hash
	md5    hash.Hash
	blake  hash.Hash
}

// NewUpload starts an upload.
func (r *Registry) NewUpload() (*Upload, error) {
	f, err := os.CreateTemp(r.blobs.TempDir(), "pypi-upload-*")
	if err != nil {
		return nil, internal(err, "cannot create an upload temp file")
	}
	blake, _ := blake2b.New256(nil) // no key: cannot fail
	return &Upload{file: f, sha256: sha256.New(), md5: md5.New(), blake: blake}, nil
}

// Write appends p to the upload.
func (u *Upload) Write(p []byte) (int, error) {
	if u.file == nil {
		return 0, errors.New("upload already ended")
	}
	n, err := u.file.Write(p)
	u.size += int64(n)
	for _, h := range []hash.Hash{u.sha256, u.md5, u.blake} {
		h.Write(p[:n])
	}
	return n, err
}

// Size is the number of bytes received.
func (u *Upload) Size() int64 { return u.size }

// Discard closes and removes the temp file (idempotent, and a no-op once
// Publish committed it).
func (u *Upload) Discard() {
	if u.file == nil {
		return
	}
	u.file.Close()
	os.Remove(u.file.Name())
	u.file = nil
}

// Release is what an upload declares about its file: the legacy upload
// API's form fields that matter.
type Release struct {
	Name     string // project name as uploaded, any spelling
	Version  string
	Filetype string // "bdist_wheel" or "sdist"; "" = as the file name says
	// PyVersion is the form's pyversion ("py3", "source").
	PyVersion string
	Filename  string
	// Declared digests, hex. At least SHA256 or Blake2b256 is required;
	// every one declared must match.
	SHA256, MD5, Blake2b256 string
	RequiresPython          string
	Uploader                string // the user name, for the record
}

// maxMetadataBytes caps a wheel's METADATA kept as PEP 658 core metadata.
const maxMetadataBytes = 4 << 20

// Publish verifies u against m and adds the file to its project, creating
// the project (and so making the name hosted; see the package comment).
// The upload ends either way: on any error nothing is stored. Re-uploading
// a file name with the same bytes is accepted and changes nothing, as PyPI
// does (created is false); with other bytes it is a Conflict ("File
// already exists"). Other refusals are Invalid.
func (r *Registry) Publish(ctx context.Context, u *Upload, m Release) (f File, created bool, err error) {
	defer u.Discard()
	if u.file == nil {
		return File{}, false, errors.New("upload already ended")
	}
	f, md, err := u.check(m)
	if err != nil {
		return File{}, false, err
	}
	project := NormalizeName(m.Name)
	defer r.locks.Lock(project)()
	// Refuse early, before the bytes are stored; the change checks again
	// on the document it rewrites.
	p, err := r.load(ctx, project)
	if err != nil {
		return File{}, false, err
	}
	if old, ok, err := canAdd(p, f); ok || err != nil {
		return old, false, err
	}
	if err := r.commitBlobs(ctx, u, &f, md); err != nil {
		return File{}, false, err
	}
	return r.addFile(ctx, project, f)
}

// canAdd refuses f if p has a file of its name with other bytes, or a
// second sdist of its release; the file p has with the same bytes comes
// back with ok.
func canAdd(p *Project, f File) (old File, ok bool, err error) {
	if old, ok := p.Lookup(f.Filename); ok {
		if old.SHA256 == f.SHA256 {
			return old, true, nil
		}
		return File{}, false, exists(f.Filename)
	}
	return File{}, false, checkOneSdist(p, f)
}

// check verifies the upload against what m declares (project name,
// version, file name, filetype, digests, a wheel's METADATA) and returns
// the file's record and, for a wheel, its core metadata.
func (u *Upload) check(m Release) (File, []byte, error) {
	if !ValidName(m.Name) {
		return File{}, nil, invalid("%q is not a project name", m.Name)
	}
	project := NormalizeName(m.Name)
	version, ok := NormalizeVersion(m.Version)
	if !ok {
		return File{}, nil, invalid("%q is not a PEP 440 version", m.Version)
	}
	filetype, err := checkFilename(m.Filename, project, m.Version)
	if err != nil {
		return File{}, nil, err
	}
	if m.Filetype != "" && m.Filetype != filetype {
		return File{}, nil, invalid("filetype %q does not fit %s", m.Filetype, m.Filename)
	}
	f := File{
		Filename: m.Filename, Version: version, Filetype: filetype, PyVersion: m.PyVersion,
		SHA256: hex.EncodeToString(u.sha256.Sum(nil)), Size: u.size,
		RequiresPython: strings.TrimSpace(m.RequiresPython), UploadTime: time.Now().UTC(), Uploader: m.Uploader,
	}
	if err := u.verify(m, &f); err != nil {
		return File{}, nil, err
	}
	if filetype != Wheel {
		return f, nil, nil
	}
	md, rp, err := wheelMetadata(u.file, u.size, project, version)
	if err != nil {
		return File{}, nil, err
	}
	if f.RequiresPython == "" {
		f.RequiresPython = rp
	}
	return f, md, nil
}

// checkOneSdist refuses a second sdist of one release, as PyPI does.
func checkOneSdist(p *Project, f File) error {
	if f.Filetype != Sdist {
		return nil
	}
	key, _ := versionKey(f.Version)
	for _, o := range p.Files {
		if k, _ := versionKey(o.Version); o.Filetype == Sdist && k == key {
			return invalid("only one sdist may be uploaded per release (%s has %s)", f.Version, o.Filename)
		}
	}
	return nil
}

// commitBlobs stores the upload's bytes and a wheel's core metadata md,
// content addressed, and records the metadata's digest in f. If what
// follows fails, the blobs are referenced by nothing hosted and GC collects
// them (they may be proxied bytes, too).
func (r *Registry) commitBlobs(ctx context.Context, u *Upload, f *File, md []byte) error {
	if md != nil {
		d := digest.FromBytes(md)
		if err := r.blobs.PutBlob(ctx, d, md); err != nil {
			return internal(err, "cannot store the metadata of %s", f.Filename)
		}
		f.MetadataSHA256, f.MetadataSize = d.Encoded(), int64(len(md))
	}
	path := u.file.Name()
	if err := u.file.Close(); err != nil {
		return internal(err, "cannot commit %s", f.Filename)
	}
	u.file = nil
	if err := r.blobs.CommitFile(ctx, path, cache.BlobKey(f.Digest()), f.Size); err != nil {
		return internal(err, "cannot commit %s", f.Filename)
	}
	return nil
}

// addFile writes the document of project with f added, unless the
// document another instance wrote in the meantime has it (created is
// false) or refuses it. The caller holds the project's lock.
func (r *Registry) addFile(ctx context.Context, project string, f File) (File, bool, error) {
	// The name before the first document: a crash in between leaves a
	// hosted project without files, never files of a project that could be
	// mistaken for a proxied one.
	newName := !r.Hosted(project)
	if newName {
		if err := r.names.Add(ctx, project); err != nil {
			return File{}, false, internal(err, "cannot host project %s", project)
		}
	}
	stored, created := f, false
	_, err := r.change(ctx, project, func(p *Project) (*Project, error) {
		old, ok, err := canAdd(p, f)
		if stored, created = old, !ok; ok || err != nil {
			return nil, err
		}
		stored = f
		return &Project{Name: p.Name, Files: append(slices.Clone(p.Files), f)}, nil
	})
	if err != nil && newName && fault.KindOf(err) == fault.Internal {
		r.unhost(ctx, project)
	}
	if err != nil {
		return File{}, false, err
	}
	return stored, created, nil
}

// unhost undoes the hosting of project after its first upload failed to
// store, unless a document appeared meanwhile (another instance's upload).
func (r *Registry) unhost(ctx context.Context, project string) {
	if _, err := r.store.Stat(ctx, projectKey(project)); !errors.Is(err, cache.ErrNotFound) {
		return
	}
	if err := r.names.Remove(ctx, project); err != nil {
		r.log.Warn("cannot undo the hosting of a project whose first upload failed", "project", project, "err", err)
	}
}

// verify checks the declared digests against the bytes received and
// records the matching ones in f.
func (u *Upload) verify(m Release, f *File) error {
	if m.SHA256 == "" && m.Blake2b256 == "" {
		return invalid("the upload declares neither sha256_digest nor blake2_256_digest")
	}
	for _, c := range []struct {
		name     string
		declared string
		h        hash.Hash
		keep     *string
	}{
		{"sha256_digest", m.SHA256, u.sha256, nil},
		{"md5_digest", m.MD5, u.md5, &f.MD5},
		{"blake2_256_digest", m.Blake2b256, u.blake, &f.Blake2b256},
	} {
		if c.declared == "" {
			continue
		}
		got := hex.EncodeToString(c.h.Sum(nil))
		if !strings.EqualFold(strings.TrimSpace(c.declared), got) {
			return digestMismatch("the file's %s is %s, the upload declares %s", strings.TrimSuffix(c.name, "_digest"), got, c.declared)
		}
		if c.keep != nil {
			*c.keep = got
		}
	}
	return nil
}

// wheelMetadata returns the wheel's METADATA (at most maxMetadataBytes)
// and its Requires-Python, after checking that the wheel
// is a zip whose one .dist-info of project holds METADATA naming project
// and version: pip refuses a wheel whose metadata disagrees with its name.
func wheelMetadata(r io.ReaderAt, size int64, project, version string) ([]byte, string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, "", wheelError("the wheel is not a zip archive", err)
	}
	var found *zip.File
	for _, zf := range zr.File {
		dir, rest, ok := strings.Cut(zf.Name, "/")
		stem, isDistInfo := strings.CutSuffix(dir, ".dist-info")
		if !ok || rest != "METADATA" || !isDistInfo {
			continue
		}
		name, _, _ := strings.Cut(stem, "-")
		if !ValidName(name) || NormalizeName(name) != project {
			continue
		}
		if found != nil {
			return nil, "", invalid("the wheel has more than one .dist-info/METADATA")
		}
		found = zf
	}
	if found == nil {
		return nil, "", invalid("the wheel has no %s-*.dist-info/METADATA", strings.ReplaceAll(project, "-", "_"))
	}
	// A METADATA too large to keep is too large to check: refused, as
	// pip could not read it either (and it may be a zip bomb).
	tooLarge := invalid("the wheel's METADATA is larger than %d bytes", maxMetadataBytes)
	if found.UncompressedSize64 > maxMetadataBytes {
		return nil, "", tooLarge
	}
	rc, err := found.Open()
	if err != nil {
		return nil, "", wheelError("cannot open the wheel's METADATA", err)
	}
	defer rc.Close()
	md, err := io.ReadAll(io.LimitReader(rc, maxMetadataBytes+1))
	if err != nil {
		return nil, "", wheelError("cannot read the wheel's METADATA", err)
	}
	if len(md) > maxMetadataBytes {
		return nil, "", tooLarge
	}
	hdr := metadataHeaders(md)
	key, _ := versionKey(version)
	mdKey, _ := versionKey(hdr["version"])
	if !ValidName(hdr["name"]) || NormalizeName(hdr["name"]) != project || mdKey != key {
		return nil, "", invalid("the wheel's METADATA names %q %q, not %s %s", hdr["name"], hdr["version"], project, version)
	}
	return md, hdr["requires-python"], nil
}

// wheelError classifies a failure to read the uploaded wheel: the
// archive's fault (Invalid, with the reason for the client), or the temp
// file's (Internal: its text names a path of the store).
func wheelError(msg string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return internal(err, "cannot read the uploaded wheel")
	}
	return invalid("%s: %v", msg, err)
}

// metadataHeaders reads the first Name, Version and Requires-Python of a
// core metadata file's header block (RFC 822 style; the description may
// follow a blank line).
func metadataHeaders(md []byte) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(string(md), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // a continuation line
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, seen := out[k]; !seen && (k == "name" || k == "version" || k == "requires-python") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
