package oci

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
)

// Upload is one blob upload session: a temp file in the store's temp dir
// and the running sha256 of what it holds, so the final PUT need not reread
// the file. A session is used by one request at a time (OpenUpload locks
// it, Release unlocks it). Without Config.SharedUploads sessions live in
// memory only, as their temp files do not survive a restart either; with
// it they live in the store (uploads_shared.go) and the temp file is this
// instance's copy of a prefix of the session.
type Upload struct {
	id, repo, owner string

	mu   sync.Mutex // held by the request using the session
	file *os.File   // nil until this instance holds bytes of it
	dir  string     // a local session's temp dir
	size int64      // bytes of the session
	have int64      // bytes of file: all of size, or (shared) a prefix
	sha  hash.Hash  // of file's bytes

	// reg is set for a shared session. fresh marks one started by the
	// current request, whose bytes stay local until it commits or ends.
	reg   *Registry
	fresh bool

	// Guarded by Registry.mu.
	idleSince time.Time
	inUse     bool
}

// ID is the session's unguessable identifier, the last element of its URL.
func (u *Upload) ID() string { return u.id }

// Size is the number of bytes received so far.
func (u *Upload) Size() int64 { return u.size }

// StartUpload opens a session for repository name on behalf of owner (the
// user name; "" when anonymous) and returns it locked, as OpenUpload does.
// The repository is created only when something is committed. Errors:
// ErrTooManyUploads.
func (r *Registry) StartUpload(name, owner string) (*Upload, error) {
	var b [16]byte
	rand.Read(b[:])
	u := &Upload{id: hex.EncodeToString(b[:]), repo: name, owner: owner, sha: sha256.New(), inUse: true, dir: r.blobs.TempDir()}
	// A session gets its temp file with its first bytes: one a client
	// abandons before sending any (crane stopping a push when another
	// blob failed) leaves nothing on disk, and a shared session's PATCH
	// often goes to another instance.
	if r.cfg.SharedUploads {
		u.reg, u.fresh = r, true
	}
	u.mu.Lock()
	r.mu.Lock()
	if len(r.uploads) >= r.cfg.MaxUploads {
		r.mu.Unlock()
		u.discard()
		return nil, fmt.Errorf("%w: %d are open", ErrTooManyUploads, r.cfg.MaxUploads)
	}
	r.uploads[u.id] = u
	r.mu.Unlock()
	if r.cfg.SharedUploads {
		if err := r.saveNewUpload(u); err != nil {
			r.forget(u)
			u.discard()
			return nil, err
		}
	}
	return u, nil
}

// ensureFile creates the session's temp file in dir if it has none.
func (u *Upload) ensureFile(dir string) error {
	if u.file != nil {
		return nil
	}
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return fmt.Errorf("cannot create upload temp file: %w", err)
	}
	u.file, u.have = f, 0
	u.sha.Reset()
	return nil
}

// OpenUpload finds session id of repository name, started by owner, and
// locks it for the calling request. Errors: ErrUploadUnknown, ErrUploadBusy.
func (r *Registry) OpenUpload(name, owner, id string) (*Upload, error) {
	if r.cfg.SharedUploads {
		return r.openShared(name, owner, id)
	}
	r.mu.Lock()
	u := r.uploads[id]
	if u == nil || u.repo != name || u.owner != owner {
		r.mu.Unlock()
		return nil, ErrUploadUnknown
	}
	if u.inUse {
		r.mu.Unlock()
		return nil, ErrUploadBusy
	}
	u.inUse = true
	r.mu.Unlock()
	u.mu.Lock()
	return u, nil
}

// Release ends the calling request's use of u (a no-op once u was
// committed or cancelled); its idle time starts now.
func (r *Registry) Release(u *Upload) {
	if u.fresh {
		u.fresh = false
		r.persistFresh(u)
	}
	u.mu.Unlock()
	r.mu.Lock()
	u.inUse = false
	u.idleSince = time.Now()
	r.mu.Unlock()
}

// Write appends the body r to the session. start is where the client says
// the chunk begins (Content-Range; -1 if it sent none) and must be the
// current size (else ErrRangeInvalid); length is the declared length (-1 if
// unknown). A body that fails or ends short of length (ErrTruncated) leaves
// the session as it was before the call, so the client may resume.
func (u *Upload) Write(body io.Reader, start, length int64) (int64, error) {
	if start >= 0 && start != u.size {
		return 0, fmt.Errorf("%w: chunk starts at %d, the upload holds %d bytes", ErrRangeInvalid, start, u.size)
	}
	if u.reg != nil && !u.fresh {
		return u.reg.writeShared(u, body, length)
	}
	if err := u.ensureFile(u.tempDir()); err != nil {
		return 0, err
	}
	n, err := u.appendLocal(body, length)
	u.size = u.have
	return n, err
}

// appendLocal appends body to the temp file (which holds the whole
// session) and the running hash, or, on error, leaves both as they were.
func (u *Upload) appendLocal(body io.Reader, length int64) (int64, error) {
	state, err := u.sha.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return 0, err
	}
	n, err := copyBody(io.MultiWriter(u.file, u.sha), body, length)
	if err != nil {
		if rerr := u.rollback(u.have, state); rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		return 0, err
	}
	u.have += n
	return n, nil
}

// copyBufs are copyBody's buffers: a push sends every layer chunk through
// one, and a fresh 128 KiB each was the largest garbage of the soak's
// pushes.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// copyBody copies a chunk's body to w: at most length bytes, exactly
// length if it is not -1. A failure of w is the store's (wrapped as it
// came, so the edge can tell it), one of body the client's (ErrTruncated).
func copyBody(w io.Writer, body io.Reader, length int64) (int64, error) {
	if length >= 0 {
		body = io.LimitReader(body, length)
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	ew := &hosted.ErrWriter{W: w}
	n, err := io.CopyBuffer(ew, struct{ io.Reader }{body}, *buf)
	switch {
	case ew.Err != nil:
		// The store failed, not the client's body.
		return n, fmt.Errorf("cannot write upload: %w", ew.Err)
	case err == nil && length >= 0 && n != length:
		return n, fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, n, length)
	case err != nil:
		return n, fmt.Errorf("%w after %d bytes: %w", ErrTruncated, n, err)
	}
	return n, nil
}

// rollback cuts the temp file back to size bytes and the hash back to
// state.
func (u *Upload) rollback(size int64, state []byte) error {
	if err := u.file.Truncate(size); err != nil {
		return fmt.Errorf("cannot roll back upload: %w", err)
	}
	if _, err := u.file.Seek(size, io.SeekStart); err != nil {
		return fmt.Errorf("cannot roll back upload: %w", err)
	}
	u.have = size
	return u.sha.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
}

// Commit verifies that the session's bytes hash to d, commits them to the
// shared store atomically and links the blob into the session's repository
// (creating it). The session ends either way: on a mismatch
// (ErrDigestInvalid) nothing is committed and the temp file is removed.
func (r *Registry) Commit(ctx context.Context, u *Upload, d digest.Digest) error {
	defer r.forget(u)
	if u.reg != nil {
		// Whatever happens next, the session ends: its objects go.
		defer r.dropShared(ctx, u.id, u.fresh)
		if err := r.catchUp(ctx, u); err != nil {
			u.discard()
			return err
		}
	}
	// A session that never got a byte commits the empty blob.
	if err := u.ensureFile(u.tempDir()); err != nil {
		return err
	}
	got, err := u.digest(d.Algorithm())
	if err != nil {
		u.discard()
		return err
	}
	if got != d {
		u.discard()
		return fmt.Errorf("%w: the upload's digest is %s, not %s", ErrDigestInvalid, got, d)
	}
	path := u.file.Name()
	if err := u.file.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("cannot commit blob %s: %w", d, err)
	}
	if err := r.blobs.CommitFile(ctx, path, cache.BlobKey(d), u.size); err != nil {
		return fmt.Errorf("cannot commit blob %s: %w", d, err)
	}
	u.file = nil
	return r.link(ctx, u.repo, map[digest.Digest]int64{d: u.size}, false)
}

// digest is the digest of the session's bytes by algorithm a; only a
// non-sha256 algorithm rereads the file.
func (u *Upload) digest(a digest.Algorithm) (digest.Digest, error) {
	if a == digest.SHA256 {
		return digest.NewDigest(a, u.sha), nil
	}
	if !a.Available() {
		return "", fmt.Errorf("%w: unsupported algorithm %s", ErrDigestInvalid, a)
	}
	d, err := a.FromReader(io.NewSectionReader(u.file, 0, u.size))
	if err != nil {
		return "", fmt.Errorf("cannot reread upload: %w", err)
	}
	return d, nil
}

// Cancel ends the session and removes its temp file, and its objects
// when it is shared.
func (r *Registry) Cancel(u *Upload) {
	r.forget(u)
	u.discard()
	fresh := u.fresh
	u.fresh = false
	if u.reg != nil {
		ctx, cancel := r.opCtx()
		defer cancel()
		r.dropShared(ctx, u.id, fresh)
	}
}

func (r *Registry) forget(u *Upload) {
	r.mu.Lock()
	delete(r.uploads, u.id)
	r.mu.Unlock()
}

// discard closes and removes the temp file (idempotent).
func (u *Upload) discard() {
	if u.file == nil {
		return
	}
	u.file.Close()
	os.Remove(u.file.Name())
	u.file = nil
}

// janitor cancels sessions idle for longer than cfg.UploadIdle: a client
// that went away mid-push leaves nothing behind.
func (r *Registry) janitor() {
	defer close(r.done)
	every := min(r.cfg.UploadIdle/2, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.expire(now)
			if r.cfg.SharedUploads {
				r.expireShared(now)
			}
		}
	}
}

func (r *Registry) expire(now time.Time) {
	var idle []*Upload
	r.mu.Lock()
	for id, u := range r.uploads {
		if !u.inUse && now.Sub(u.idleSince) >= r.cfg.UploadIdle {
			delete(r.uploads, id)
			idle = append(idle, u)
		}
	}
	r.mu.Unlock()
	for _, u := range idle {
		r.log.Info("upload session expired", "repository", u.repo, "bytes", u.size)
		u.discard()
	}
}

// Uploads is the number of open upload sessions.
func (r *Registry) Uploads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.uploads)
}

// tempDir is where the session's temp file goes: the store's temp dir, on
// the filesystem the blob is committed to by rename.
func (u *Upload) tempDir() string {
	if u.reg != nil {
		return u.reg.blobs.TempDir()
	}
	return u.dir
}
