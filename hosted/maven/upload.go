package maven

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
	"nora/internal/fault"
)

// Upload stores body as the file c, on behalf of user. length is the
// declared length (-1 if unknown); max caps the body. The bytes stream to a
// temp file of the store while their sha256, sha1 and md5 are computed,
// and are committed (content addressed) only once complete; a body that
// breaks off, runs short or exceeds max leaves nothing behind.
//
// ctx is the upload's lifetime, the server's rather than the request's,
// so a body that is in commits whole even if the client is gone; the
// store calls before and after the body are bounded by commitTimeout each.
//
// Every file name is immutable once deployed: the same bytes again are
// accepted and change nothing (created is false: a retried deploy
// succeeds); other bytes are a fault.Conflict. SNAPSHOT builds get a new,
// timestamped name each time, so this never blocks a SNAPSHOT deploy.
// A Failed file is replaced.
func (r *Registry) Upload(ctx context.Context, c Coord, body io.Reader, length, max int64, user string) (created bool, err error) {
	if err := r.precheck(ctx, c, length, max); err != nil {
		return false, err
	}
	tmp, f, err := r.receive(c, body, length, max)
	if err != nil {
		return false, err
	}
	f.By = user
	return r.record(ctx, c, hosted.Spooled(tmp), f)
}

// precheck refuses c before its body is read: an impossible file, a
// declared length over max, and a redeploy of other bytes when the length
// already tells (a 2 GiB body need not cross the network to be refused).
func (r *Registry) precheck(ctx context.Context, c Coord, length, max int64) error {
	if err := c.check(); err != nil {
		return err
	}
	if length > max {
		return tooLargef("%d bytes declared, cap %d", length, max)
	}
	if length < 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	if old, err := r.file(ctx, c); err == nil && old.Size != length {
		return conflict(c.Path())
	}
	return nil
}

// receive streams body into a closed temp file of the store, hashing it,
// and returns its path and the File it makes (without Uploaded and By).
// On error no temp file is left.
func (r *Registry) receive(c Coord, body io.Reader, length, max int64) (tmpPath string, _ *File, err error) {
	tmp, err := os.CreateTemp(r.blobs.TempDir(), "maven-upload-*")
	if err != nil {
		return "", nil, fmt.Errorf("cannot create temp file for %s: %w", c.Path(), err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	s256, s1, m5 := sha256.New(), sha1.New(), md5.New()
	buf := make([]byte, 128<<10)
	// struct{io.Reader} hides the body's WriteTo: the copy must go through
	// the limit and the hashes.
	w := &hosted.ErrWriter{W: io.MultiWriter(tmp, s256, s1, m5)}
	n, err := io.CopyBuffer(w, struct{ io.Reader }{io.LimitReader(body, max+1)}, buf)
	switch {
	case w.Err != nil:
		// Write errors are the store's (a full disk), not a body that
		// ended early.
		return "", nil, fmt.Errorf("cannot write %s: %w", c.Path(), w.Err)
	case err != nil:
		return "", nil, truncatedf(err, " after %d bytes", n)
	case n > max:
		return "", nil, tooLargef("more than %d bytes", max)
	case length >= 0 && n != length:
		return "", nil, truncatedf(nil, ": got %d of %d bytes", n, length)
	}
	if err = tmp.Close(); err != nil {
		return "", nil, fmt.Errorf("cannot write %s: %w", c.Path(), err)
	}
	return tmp.Name(), &File{
		Digest: digest.NewDigest(digest.SHA256, s256), SHA1: hex.EncodeToString(s1.Sum(nil)),
		MD5: hex.EncodeToString(m5.Sum(nil)), Size: n,
	}, nil
}

// record commits the received temp file tmp as c and adds f to its
// directory's document, under the directory's lock. The temp file is gone
// when it returns.
func (r *Registry) record(ctx context.Context, c Coord, tmp hosted.Spooled, f *File) (created bool, err error) {
	defer tmp.Discard()
	// The body may have taken long; the commit gets its own bound.
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	dir := c.Dir()
	unlock := r.locks.lock(dir)
	defer unlock()
	// Refuse early, before the bytes are committed; the change checks
	// again on the document it rewrites.
	d, err := r.loadDoc(ctx, dir)
	if err != nil {
		return false, err
	}
	if same, err := canRecord(d, c, f); same || err != nil {
		return false, err
	}
	if err := r.hostDir(ctx, dir); err != nil {
		return false, err
	}
	if err := r.blobs.CommitFile(ctx, tmp.Take(), cache.BlobKey(f.Digest), f.Size); err != nil {
		return false, err
	}
	now := r.now().UTC()
	f.Uploaded = now
	err = r.changeDoc(ctx, dir, func(d *dirDoc) (*dirDoc, error) {
		same, err := canRecord(d, c, f)
		if created = !same; same || err != nil {
			return nil, err
		}
		if d == nil {
			d = &dirDoc{}
		}
		d.GroupID, d.ArtifactID, d.Updated = GroupID(c.Group), c.Artifact, now
		if d.Versions == nil {
			d.Versions = map[string]*version{}
		}
		v := d.Versions[c.Version]
		if v == nil {
			v = &version{Files: map[string]*File{}}
			d.Versions[c.Version] = v
		}
		v.Files[c.File] = f
		v.Updated = now
		return d, nil
	})
	return created && err == nil, err
}

// canRecord reports whether d already has file c with f's bytes (same),
// and refuses other bytes under c's name; a Failed file may be replaced.
func canRecord(d *dirDoc, c Coord, f *File) (same bool, err error) {
	if d == nil {
		return false, nil
	}
	if old := d.Versions[c.Version].lookup(c.File); old != nil && old.Failed == "" {
		if old.Digest == f.Digest {
			return true, nil
		}
		return false, conflict(c.Path())
	}
	return false, nil
}

func (v *version) lookup(name string) *File {
	if v == nil {
		return nil
	}
	return v.Files[name]
}

// File returns the deployed file c (not Failed) and its name. A
// non-unique SNAPSHOT name ("lib-1.0-SNAPSHOT.jar") resolves to the latest
// build that has a file with the same classifier and extension.
func (r *Registry) File(ctx context.Context, c Coord) (File, string, error) {
	if !validDir(c.Group) || !ValidSegment(c.Artifact) || !ValidSegment(c.Version) || !ValidSegment(c.File) {
		return File{}, "", invalidf("%q", c.Path())
	}
	d, err := r.doc(ctx, c.Dir())
	if err != nil {
		return File{}, "", err
	}
	var v *version
	if d != nil {
		v = d.Versions[c.Version]
	}
	if v == nil {
		return File{}, "", notFoundf("%s", c.Path())
	}
	name := c.File
	if tail, ok := nonUniqueTail(c.Artifact, c.Version, c.File); ok {
		name = ""
		var best build
		for n, f := range v.Files {
			b, ok := parseBuild(c.Artifact, c.Version, n)
			if ok && f.Failed == "" && b.Tail == tail && (name == "" || b.later(best)) {
				name, best = n, b
			}
		}
	}
	f := v.Files[name]
	if f == nil || f.Failed != "" {
		return File{}, "", notFoundf("%s", c.Path())
	}
	return *f, name, nil
}

// file is File without resolving non-unique names.
func (r *Registry) file(ctx context.Context, c Coord) (File, error) {
	d, err := r.doc(ctx, c.Dir())
	if err != nil || d == nil {
		return File{}, fault.NotFound
	}
	f := d.Versions[c.Version].lookup(c.File)
	if f == nil || f.Failed != "" {
		return File{}, fault.NotFound
	}
	return *f, nil
}

// Confirm checks a checksum file the client deployed next to the file c
// (alg is "sha1", "md5", "sha256" or "sha512"; sum is hex). Clients send
// these after the file, so they are what tells nora that the bytes it got
// are the bytes the client meant:
//   - a match is recorded (Confirmed);
//   - a mismatch is a fault.Invalid; if no checksum had confirmed the file
//     yet, the file is marked Failed: not served, in no metadata, and
//     replaceable by the client's retry. A confirmed file stays as it is:
//     a contradicting checksum after a matching one is refused, not
//     allowed to unpublish a complete file.
func (r *Registry) Confirm(ctx context.Context, c Coord, alg, sum string) error {
	if err := c.check(); err != nil {
		return err
	}
	sum = strings.ToLower(sum)
	dir := c.Dir()
	unlock := r.locks.lock(dir)
	defer unlock()
	var mismatch error
	err := r.changeDoc(ctx, dir, func(d *dirDoc) (*dirDoc, error) {
		var f *File
		if d != nil {
			f = d.Versions[c.Version].lookup(c.File)
		}
		if f == nil || f.Failed != "" {
			return nil, notFoundf("%s (deploy the file before its checksum)", c.Path())
		}
		want, err := r.checksum(ctx, f, alg)
		if err != nil {
			return nil, err
		}
		mismatch = nil
		switch {
		case want != sum && len(f.Confirmed) > 0:
			return nil, mismatchf("%s of %s is %s, not %s", alg, c.Path(), want, sum)
		case want != sum:
			f.Failed = "the client's " + alg + " is " + sum + ", the bytes received hash to " + want
			mismatch = mismatchf("%s of %s is %s, not %s; the file was discarded, deploy it again", alg, c.Path(), want, sum)
		case slices.Contains(f.Confirmed, alg):
			return nil, nil
		default:
			f.Confirmed = append(f.Confirmed, alg)
		}
		return d, nil
	})
	if err != nil {
		return err
	}
	return mismatch
}

// checksum is f's alg checksum; sha512, which few clients use, is
// computed from the stored bytes.
func (r *Registry) checksum(ctx context.Context, f *File, alg string) (string, error) {
	switch alg {
	case "sha1":
		return f.SHA1, nil
	case "md5":
		return f.MD5, nil
	case "sha256":
		return f.Digest.Encoded(), nil
	case "sha512":
		obj, err := r.blobs.Open(ctx, cache.BlobKey(f.Digest))
		if err != nil {
			// Damaged state, not a file the client got wrong.
			return "", fault.Wrap(fault.Internal, err, "cannot read deployed file "+f.Digest.String())
		}
		defer obj.Body.Close()
		var h hash.Hash = sha512.New()
		if _, err := io.Copy(h, obj.Body); err != nil {
			return "", fmt.Errorf("cannot read deployed file %s: %w", f.Digest, err)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	return "", invalidf("unknown checksum algorithm %q", alg)
}
