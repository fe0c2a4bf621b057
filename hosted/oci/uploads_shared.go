package oci

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"nora/cache"
)

// Shared upload sessions (Config.SharedUploads): several instances behind
// one load balancer, so each request of a push may reach another one. The
// session is an object of the store, hosted/oci/uploads/<id>/state, and
// each PATCH chunk one more, hosted/oci/uploads/<id>/<offset>-<nonce>. A
// chunk is stored first, then listed in the state with cache.Update, which
// also checks that nobody appended in between (ErrRangeInvalid if someone
// did; the chunk is removed). The instance that gets the final PUT
// assembles the bytes it lacks from the chunks into its temp file, then
// verifies and commits as a local session does; an instance that received
// every byte uses its own temp file and reads nothing back.

// chunkTimeout bounds storing one chunk, which may be large.
const chunkTimeout = 30 * time.Minute

type uploadState struct {
	Repo   string        `json:"repo"`
	Owner  string        `json:"owner"`
	Size   int64         `json:"size"`
	Chunks []uploadChunk `json:"chunks"`
	// Updated is when the session was started or last grew: the janitor
	// of any instance removes it UploadIdle later.
	Updated time.Time `json:"updated"`
}

type uploadChunk struct {
	Off  int64  `json:"off"`
	Size int64  `json:"size"`
	Key  string `json:"key"`
}

// saveNewUpload stores the state of a session just started.
func (r *Registry) saveNewUpload(u *Upload) error {
	ctx, cancel := r.opCtx()
	defer cancel()
	st := uploadState{Repo: u.repo, Owner: u.owner, Chunks: []uploadChunk{}, Updated: time.Now()}
	if err := r.putRecord(ctx, uploadStateKey(u.id), st); err != nil {
		return fmt.Errorf("cannot store upload session: %w", err)
	}
	return nil
}

// loadUpload reads the state of session id; ErrUploadUnknown if it has
// none.
func (r *Registry) loadUpload(ctx context.Context, id string) (uploadState, error) {
	var st uploadState
	if !validUploadID(id) {
		return st, ErrUploadUnknown
	}
	err := r.getRecord(ctx, uploadStateKey(id), &st)
	if errors.Is(err, cache.ErrNotFound) {
		return st, ErrUploadUnknown
	} else if err != nil {
		return st, fmt.Errorf("cannot read upload session: %w", err)
	}
	return st, nil
}

// validUploadID accepts the ids StartUpload makes, and nothing that could
// reach another key.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// openShared is OpenUpload of a shared session: the stored state says
// what the session holds, whichever instance wrote it.
func (r *Registry) openShared(name, owner, id string) (*Upload, error) {
	ctx, cancel := r.opCtx()
	defer cancel()
	st, err := r.loadUpload(ctx, id)
	r.mu.Lock()
	u := r.uploads[id]
	if errors.Is(err, ErrUploadUnknown) && u != nil && !u.inUse {
		delete(r.uploads, id) // ended on another instance
		r.mu.Unlock()
		u.discard()
		return nil, err
	}
	if err != nil || st.Repo != name || st.Owner != owner {
		r.mu.Unlock()
		return nil, cmp(err, ErrUploadUnknown)
	}
	if u == nil {
		if len(r.uploads) >= r.cfg.MaxUploads {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: %d are open", ErrTooManyUploads, r.cfg.MaxUploads)
		}
		u = &Upload{id: id, repo: st.Repo, owner: st.Owner, sha: sha256.New(), reg: r}
		r.uploads[id] = u
	}
	if u.inUse {
		r.mu.Unlock()
		return nil, ErrUploadBusy
	}
	u.inUse = true
	r.mu.Unlock()
	u.mu.Lock()
	u.size = st.Size
	if u.have > u.size { // a chunk this instance kept was never listed
		u.discard()
		u.have = 0
	}
	return u, nil
}

// cmp is err, or def when err is nil.
func cmp(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// writeShared appends a chunk to a shared session: to the local temp file
// too when it holds the whole session so far (then the bytes are stored
// from it), else through a temp file of its own.
func (r *Registry) writeShared(u *Upload, body io.Reader, length int64) (int64, error) {
	ctx, cancel := context.WithTimeout(r.life, chunkTimeout)
	defer cancel()
	off := u.size
	if u.have == u.size {
		if err := u.ensureFile(r.blobs.TempDir()); err != nil {
			return 0, err
		}
		state, err := u.sha.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return 0, err
		}
		n, err := u.appendLocal(body, length)
		if err != nil {
			return 0, err
		}
		if err := r.storeChunk(ctx, u, off, n, u.file.Name(), off); err != nil {
			return 0, errors.Join(err, u.rollback(off, state))
		}
		u.size += n
		return n, nil
	}
	f, err := os.CreateTemp(r.blobs.TempDir(), "chunk-*")
	if err != nil {
		return 0, fmt.Errorf("cannot create upload temp file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := copyBody(f, body, length)
	if err != nil {
		return 0, err
	}
	if err := r.storeChunk(ctx, u, off, n, f.Name(), 0); err != nil {
		return 0, err
	}
	u.size += n
	return n, nil
}

// storeChunk stores the n bytes of the file at path from pos, to its end,
// as the chunk of u that starts at off, and lists it in the session's
// state.
func (r *Registry) storeChunk(ctx context.Context, u *Upload, off, n int64, path string, pos int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot reopen upload: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("cannot reopen upload: %w", err)
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	key := chunkKey(u.id, off, hex.EncodeToString(nonce[:]))
	// The store takes a file from its position to its end: the chunk.
	if err := r.store.Put(ctx, key, f); err != nil {
		return fmt.Errorf("cannot store upload chunk: %w", err)
	}
	err = cache.Update(ctx, r.store, uploadStateKey(u.id), maxRecord, func(old []byte) ([]byte, error) {
		var st uploadState
		if old == nil {
			return nil, ErrUploadUnknown
		}
		if err := json.Unmarshal(old, &st); err != nil {
			return nil, fmt.Errorf("cannot decode upload session: %w", err)
		}
		if st.Size != off {
			return nil, fmt.Errorf("%w: another request made the upload %d bytes", ErrRangeInvalid, st.Size)
		}
		st.Chunks = append(st.Chunks, uploadChunk{Off: off, Size: n, Key: key})
		st.Size += n
		st.Updated = time.Now()
		return json.Marshal(st)
	})
	if err != nil {
		r.deleteRecord(ctx, key)
		return err
	}
	return nil
}

// persistFresh stores what a session received in the request that
// started it, when that request ended without committing it (the handler
// commits or cancels a monolithic upload in its request, so this is a
// guard).
func (r *Registry) persistFresh(u *Upload) {
	r.mu.Lock()
	open := r.uploads[u.id] == u
	r.mu.Unlock()
	if !open || u.size == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.life, chunkTimeout)
	defer cancel()
	if err := r.storeChunk(ctx, u, 0, u.size, u.file.Name(), 0); err != nil {
		r.log.Warn("cannot store an upload session", "repository", u.repo, "err", err)
	}
}

// catchUp makes the local temp file hold the whole session, appending
// the stored chunks it lacks.
func (r *Registry) catchUp(ctx context.Context, u *Upload) error {
	if err := u.ensureFile(r.blobs.TempDir()); err != nil {
		return err
	}
	if u.have == u.size {
		return nil
	}
	st, err := r.loadUpload(ctx, u.id)
	if err != nil {
		return err
	}
	for _, c := range st.Chunks {
		if c.Off+c.Size <= u.have {
			continue
		}
		if c.Off != u.have {
			return fmt.Errorf("upload session %s: chunk at %d does not continue %d bytes", u.id, c.Off, u.have)
		}
		if err := u.appendChunk(ctx, r.store, c); err != nil {
			return err
		}
	}
	if u.have != st.Size {
		return fmt.Errorf("upload session %s: chunks hold %d of %d bytes", u.id, u.have, st.Size)
	}
	u.size = st.Size
	return nil
}

// appendChunk appends stored chunk c to the local temp file.
func (u *Upload) appendChunk(ctx context.Context, store cache.Store, c uploadChunk) error {
	body, _, err := store.Get(ctx, c.Key, 0)
	if err != nil {
		return fmt.Errorf("cannot read upload chunk: %w", err)
	}
	defer body.Close()
	n, err := u.appendLocal(body, c.Size)
	if err != nil {
		return fmt.Errorf("cannot read upload chunk at %d: %w", c.Off, err)
	}
	if n != c.Size {
		return fmt.Errorf("upload chunk at %d holds %d of %d bytes", c.Off, n, c.Size)
	}
	return nil
}

// dropShared removes the objects of session id, its state first: any
// instance then finds the session unknown. A session that ends in the
// request that started it (fresh) has no chunks: nobody else knew its id.
// Failures are logged; the janitor retries them.
func (r *Registry) dropShared(ctx context.Context, id string, fresh bool) {
	if err := r.deleteRecord(ctx, uploadStateKey(id)); err != nil {
		r.log.Warn("cannot remove an upload session", "err", err)
		return
	}
	if fresh {
		return
	}
	prefix := uploadsPrefix + id + "/"
	keys, err := r.listDir(ctx, prefix)
	if err != nil {
		r.log.Warn("cannot remove an upload session", "err", err)
		return
	}
	for _, k := range keys {
		if err := r.deleteRecord(ctx, prefix+k); err != nil {
			r.log.Warn("cannot remove an upload chunk", "err", err)
		}
	}
}

// expireShared removes the stored sessions that did not grow for
// UploadIdle, whichever instance started them, and chunks left without a
// session (a writer that lost a race, a removal cut short). A session this
// instance is serving stays.
func (r *Registry) expireShared(now time.Time) {
	ctx, cancel := r.opCtx()
	defer cancel()
	states := map[string]bool{}
	stale := map[string]bool{} // ids with a chunk older than UploadIdle
	err := r.list.List(ctx, uploadsPrefix, func(key string, info cache.Info) error {
		id, rest, ok := strings.Cut(strings.TrimPrefix(key, uploadsPrefix), "/")
		if !ok {
			return nil
		}
		if rest == "state" {
			states[id] = true
		} else if now.Sub(info.ModTime) >= r.cfg.UploadIdle {
			stale[id] = true
		}
		return nil
	})
	if err != nil {
		r.log.Warn("cannot list upload sessions", "err", err)
		return
	}
	for id := range states {
		r.mu.Lock()
		u := r.uploads[id]
		busy := u != nil && u.inUse
		r.mu.Unlock()
		st, err := r.loadUpload(ctx, id)
		if busy || err != nil || now.Sub(st.Updated) < r.cfg.UploadIdle {
			continue
		}
		r.log.Info("upload session expired", "repository", st.Repo, "bytes", st.Size)
		r.dropShared(ctx, id, false)
	}
	for id := range stale {
		if !states[id] {
			r.dropShared(ctx, id, false)
		}
	}
	r.dropEnded(states)
}

// dropEnded removes this instance's copies of the sessions that ended
// elsewhere (committed or cancelled on another instance): not in states,
// the sessions stored when the janitor looked. A session started since
// then loses only its local copy, which the store does not need.
func (r *Registry) dropEnded(states map[string]bool) {
	var ended []*Upload
	r.mu.Lock()
	for id, u := range r.uploads {
		if !u.inUse && !states[id] {
			delete(r.uploads, id)
			ended = append(ended, u)
		}
	}
	r.mu.Unlock()
	for _, u := range ended {
		u.discard()
	}
}
