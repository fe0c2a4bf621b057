package cache

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"nora/internal/fault"

	"github.com/opencontainers/go-digest"
)

// Source opens the upstream body of one object; size is the length the
// upstream declared (-1 if unknown). It runs on the fill's detached context.
type Source func(ctx context.Context) (body io.ReadCloser, size int64, err error)

// Expect is what the protocol declares about an object. A fill never commits
// bytes that disagree with it.
type Expect struct {
	Digest digest.Digest // "" = not checked
	SHA1   string        // hex; "" = not checked (Maven .sha1, npm shasum)
	Size   int64         // -1 = unknown
}

// ErrVerify means the upstream sent bytes that do not match the declared
// digest or size. Nothing was committed.
var ErrVerify = fault.New(fault.BadUpstream, "content does not match its declared digest or size")

// Object is a readable object: committed, or a fill in progress that the
// reader follows. Body is an *os.File for committed disk objects.
type Object struct {
	Body io.ReadCloser
	Size int64 // -1 = unknown until the end
	// "hit" (committed, or verified and being committed), "miss" (this
	// request started the fill) or "fill-wait" (joined a fill still
	// downloading)
	Result string
}

// fill is one upstream fetch written to a temp file that any number of
// readers follow while it grows. When the disk fills up mid-way, the fill
// passes the rest of the bytes through pipes to the readers attached then,
// and stores nothing.
type fill struct {
	mu      sync.Mutex
	notify  chan struct{} // closed and replaced on every change
	ready   bool          // tmp and size are known
	tmp     string
	size    int64
	written int64
	done    bool
	err     error
	// verified: every byte is in the temp file and matches what was
	// declared; readers end there while the commit goes on (settling.go),
	// and endSettle ends the wait of those who look for the committed keys.
	verified  bool
	endSettle func()
	final     string // the committed object's key, set before done
	waiters   int
	// read: when the last reader attached, the object's last access until
	// its commit records one (the commit may wait for a lull, lull.go)
	read time.Time

	joining int           // callers given this fill that have not attached yet
	readers []*fillReader // attached readers, for the pipes of a pass-through
	// passAt is -1 while the temp file holds every byte; else the bytes from
	// passAt on reach the readers only through their pipes.
	passAt      int64
	passStarted bool // pipe bytes have flowed: nobody may attach now
	uncommitted bool // verified but not stored (disk full, store down): start anew
}

func (f *fill) changed() {
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *fill) setReady(tmp string, size int64) {
	f.mu.Lock()
	f.ready, f.tmp, f.size = true, tmp, size
	f.changed()
	f.mu.Unlock()
}

func (f *fill) progress(n int) {
	f.mu.Lock()
	f.written += int64(n)
	f.changed()
	f.mu.Unlock()
}

// errMissedFill tells a caller that the fill it found cannot serve it (it
// passes bytes through, or ended without storing them): it starts another.
var errMissedFill = errors.New("the fill passes its bytes through to other readers")

// errPassedThrough ends a fill whose verified bytes went to its readers
// but not to the store.
var errPassedThrough = errors.New("bytes passed through, not stored")

// Fetch returns the committed object under key, or follows the one fill of
// it, starting that fill from src if none is running. The fill is detached
// from ctx: a client that goes away does not waste the download. ctx only
// bounds this caller's wait for the upstream's response headers.
func (c *Cache) Fetch(ctx context.Context, key string, want Expect, src Source) (*Object, error) {
	return c.fetch(ctx, key, false, want, src)
}

// FetchNamed is Fetch for objects known by a name (a path such as
// "npm/lodash/-/lodash-4.17.21.tgz") rather than by their sha256: the fill
// stores the bytes content addressed by the sha256 it computes, and a ref
// under name points at them, so identical bytes are stored once.
func (c *Cache) FetchNamed(ctx context.Context, name string, want Expect, src Source) (*Object, error) {
	return c.fetch(ctx, name, true, want, src)
}

// OpenNamed opens the object a FetchNamed stored under name. Like Open it
// does not wait for a commit under way: FetchNamed follows that fill.
func (c *Cache) OpenNamed(ctx context.Context, name string) (*Object, error) {
	c.lull.busy()
	ref, err := c.ref(ctx, name)
	if err != nil {
		return nil, err
	}
	if ref.Digest.Validate() != nil {
		return nil, fmt.Errorf("ref %s holds no valid digest", name)
	}
	return c.openCommitted(ctx, BlobKey(ref.Digest))
}

func (c *Cache) fetch(ctx context.Context, key string, named bool, want Expect, src Source) (*Object, error) {
	c.lull.busy()
	for attempt := 0; ; attempt++ {
		gen := c.commits(key).Load()
		var obj *Object
		var err error
		if named {
			obj, err = c.OpenNamed(ctx, key)
		} else {
			obj, err = c.openCommitted(ctx, key)
		}
		if err == nil {
			c.countResult("hit")
			return obj, nil
		} else if !missing(err) {
			return nil, err
		}
		c.mu.Lock()
		f, running := c.fills[key]
		if !running && c.commits(key).Load() != gen && attempt < 3 {
			// A fill (or a push) of this shard committed since we looked:
			// look again rather than fetch what may be stored now.
			c.mu.Unlock()
			continue
		}
		if !running {
			f = &fill{notify: make(chan struct{}), size: -1, passAt: -1}
			c.fills[key] = f
			c.wg.Add(1)
			go c.runFill(key, named, f, want, src)
		}
		f.mu.Lock()
		f.joining++
		verified := f.verified // every byte is here: only its commit runs
		f.mu.Unlock()
		c.mu.Unlock()
		obj, err = c.follow(ctx, f)
		if errors.Is(err, errMissedFill) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if running {
			obj.Result = "fill-wait"
			if verified {
				obj.Result = "hit"
			}
		}
		c.countResult(obj.Result)
		return obj, nil
	}
}

// follow waits until f's size is known, then opens a reader of the temp
// file (or of the committed object if the fill already ended). The caller
// counted itself in f.joining.
func (c *Cache) follow(ctx context.Context, f *fill) (*Object, error) {
	f.mu.Lock()
	defer func() {
		f.joining--
		f.changed()
		f.mu.Unlock()
	}()
	for {
		ready, done, err, ch, final := f.ready, f.done, f.err, f.notify, f.final
		switch {
		case f.passAt >= 0 && f.passStarted, f.uncommitted:
			return nil, errMissedFill
		case err != nil:
			return nil, err
		case done:
			f.mu.Unlock()
			obj, err := c.openCommitted(ctx, final)
			f.mu.Lock()
			if errors.Is(err, ErrNotFound) {
				return nil, errMissedFill // evicted already: fill it again
			}
			if err != nil {
				return nil, err
			}
			obj.Result = "miss"
			return obj, nil
		case ready:
			file, err := os.Open(f.tmp)
			if err == nil {
				f.waiters++
				f.read = time.Now()
				r := &fillReader{f: f, file: file, end: -1}
				if f.passAt >= 0 {
					r.pipe, r.pipeW = io.Pipe()
				}
				f.readers = append(f.readers, r)
				return &Object{Body: r, Size: f.size, Result: "miss"}, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			// Renamed by the commit under way: wait for done.
		}
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
		case <-ctx.Done():
			f.mu.Lock()
			return nil, ctx.Err()
		}
	}
}

func (c *Cache) runFill(key string, named bool, f *fill, want Expect, src Source) {
	defer c.wg.Done()
	final, err := c.doFill(key, named, f, want, src)
	if err != nil && errors.Is(err, ErrVerify) {
		c.verifyFailures.Inc()
		c.log.Warn("fill refused", "key", key, "err", err)
	}
	c.mu.Lock()
	if c.fills[key] == f {
		delete(c.fills, key)
	}
	c.mu.Unlock()
	f.mu.Lock()
	if errors.Is(err, errPassedThrough) {
		// Readers attached before the disk filled got their bytes; the
		// ones that read the temp file to its end get a clean end.
		f.uncommitted = true
		err = nil
	}
	f.done, f.err, f.final = true, err, final
	f.changed()
	c.fillWaiters.Update(float64(f.waiters))
	endSettle := f.endSettle
	f.mu.Unlock()
	if endSettle != nil {
		endSettle()
	}
}

// doFill runs one fill and returns the key the object was committed under.
// The caller saw no committed object and no other fill of key.
func (c *Cache) doFill(key string, named bool, f *fill, want Expect, src Source) (final string, err error) {
	ctx := c.bg
	sums, err := newFillSums(want, named)
	if err != nil {
		return "", fmt.Errorf("cannot fill %s: %w", key, err)
	}
	body, size, err := openSource(ctx, key, want, src)
	if err != nil {
		return "", err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(c.tmpDir, "fill-*")
	if err != nil {
		return "", fmt.Errorf("cannot create temp file for %s: %w", key, err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	f.setReady(tmp.Name(), size)

	out := &fillSink{c: c, f: f, key: key, tmp: tmp}
	written, err := c.copyFill(key, body, out, size, sums)
	if err == nil {
		err = sums.check(key)
	}
	if err != nil {
		return "", out.fail(err)
	}
	if out.passing() {
		return "", out.finishPass()
	}
	committing := []string{key}
	if named {
		committing = append(committing, BlobKey(sums.sha256Digest()))
	}
	end := c.settleStart(committing...)
	f.mu.Lock()
	f.verified, f.endSettle = true, end
	f.changed()
	f.mu.Unlock()
	c.lull.wait()
	f.mu.Lock()
	read := f.read
	f.mu.Unlock()
	return c.commitFill(ctx, key, named, tmp, sums, written, read)
}

// openSource opens the upstream body and settles its size: the declared
// one, which the upstream's must not contradict.
func openSource(ctx context.Context, key string, want Expect, src Source) (io.ReadCloser, int64, error) {
	body, size, err := src(ctx)
	if err != nil {
		return nil, 0, err
	}
	if want.Size >= 0 {
		if size >= 0 && size != want.Size {
			body.Close()
			return nil, 0, fmt.Errorf("cannot fill %s: upstream declares %d bytes, want %d: %w", key, size, want.Size, ErrVerify)
		}
		size = want.Size
	}
	return body, size, nil
}

// copyFill streams body to out and through sums, and returns the bytes
// written; size (-1: unknown) is the exact length body must have.
func (c *Cache) copyFill(key string, body io.Reader, out *fillSink, size int64, sums *fillSums) (int64, error) {
	pooled := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(pooled)
	buf := *pooled
	var written int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if size >= 0 && written+int64(n) > size {
				return written, fmt.Errorf("cannot fill %s: upstream sent more than %d bytes: %w", key, size, ErrVerify)
			}
			sums.Write(buf[:n])
			if err := out.write(buf[:n], written); err != nil {
				return written, err
			}
			written += int64(n)
			c.fillBytes.Add(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return written, fmt.Errorf("cannot fill %s: upstream read failed after %d bytes: %w", key, written, rerr)
		}
	}
	if size >= 0 && written != size {
		return written, fmt.Errorf("cannot fill %s: upstream ended after %d of %d bytes: %w", key, written, size, io.ErrUnexpectedEOF)
	}
	return written, nil
}

// commitFill stores the verified temp file under key or, for a named
// object, under the sha256 of its bytes (unless those are stored already)
// with a ref under the name. It returns the key the bytes are under.
func (c *Cache) commitFill(ctx context.Context, key string, named bool, tmp *os.File, sums *fillSums, size int64, read time.Time) (string, error) {
	final := key
	if named {
		final = BlobKey(sums.sha256Digest())
	}
	if c.storeDown() {
		// The readers have every verified byte; nothing is asked of a
		// store the probe found not answering.
		c.log.Debug("the store does not answer: fill served, not stored", "key", key)
		return "", errPassedThrough
	}
	if named {
		// The name is written beside the object's commit, sharing its
		// syncs (disk/groupsync.go) instead of waiting for them first. A
		// reader that finds the ref early finds the fill still running
		// (it leaves c.fills after this returns) and follows it; a ref
		// left without its object (a crash, a full disk) reads as a miss.
		ref := Ref{Digest: sums.sha256Digest(), Size: size, FetchedAt: time.Now()}
		refDone := make(chan struct{})
		go func() {
			defer close(refDone)
			if err := c.PutRef(ctx, key, ref); err != nil {
				// The object is stored; only its name is not: the next
				// request fetches it again.
				c.log.Warn("cannot store ref of a fill", "key", key, "err", err)
			}
		}()
		defer func() { <-refDone }()
	}
	if named && c.stored(ctx, final) {
		os.Remove(tmp.Name()) // the same bytes are already stored
	} else {
		if err := c.commit(ctx, tmp, final); err != nil {
			if IsNoSpace(err) {
				// Every byte is verified in the temp file the readers
				// follow (its removal does not cut them off): they finish;
				// the object is not stored.
				c.diskFull(key, size)
				return "", errPassedThrough
			}
			if fault.KindOf(err) == fault.Unavailable && ctx.Err() == nil {
				// The store stopped answering (an S3 outage): the verified
				// bytes still reach the readers attached; a later request
				// fills again once the store is back.
				c.log.Warn("the store did not take a verified fill: served, not stored", "key", key, "err", err)
				return "", errPassedThrough
			}
			return "", err
		}
		c.index.AddedRead(final, size, read)
		c.evict.committed()
	}
	return final, nil
}

// stored reports whether key holds a committed object.
func (c *Cache) stored(ctx context.Context, key string) bool {
	_, err := c.store.Stat(ctx, key)
	return err == nil
}

// fillSums are the hashes a fill computes as the bytes stream by: the
// digests the protocol declared, and the sha256 a named object is stored
// under.
type fillSums struct {
	want     Expect
	verifier digest.Verifier // nil: no digest declared
	sha1     hash.Hash       // nil: no sha1 declared
	sha256   hash.Hash       // nil: not a named fill
}

func newFillSums(want Expect, named bool) (*fillSums, error) {
	s := &fillSums{want: want}
	if want.Digest != "" {
		if err := want.Digest.Validate(); err != nil {
			return nil, err
		}
		s.verifier = want.Digest.Verifier()
	}
	if want.SHA1 != "" {
		s.sha1 = sha1.New()
	}
	if named {
		s.sha256 = sha256.New()
	}
	return s, nil
}

func (s *fillSums) Write(p []byte) {
	if s.verifier != nil {
		s.verifier.Write(p)
	}
	if s.sha1 != nil {
		s.sha1.Write(p)
	}
	if s.sha256 != nil {
		s.sha256.Write(p)
	}
}

// check reports whether the bytes match what was declared.
func (s *fillSums) check(key string) error {
	if s.verifier != nil && !s.verifier.Verified() {
		return fmt.Errorf("cannot fill %s: digest mismatch: %w", key, ErrVerify)
	}
	if s.sha1 != nil && !strings.EqualFold(hex.EncodeToString(s.sha1.Sum(nil)), s.want.SHA1) {
		return fmt.Errorf("cannot fill %s: sha1 mismatch: %w", key, ErrVerify)
	}
	return nil
}

func (s *fillSums) sha256Digest() digest.Digest { return digest.NewDigest(digest.SHA256, s.sha256) }

// missing reports whether a failed look in the store means "fetch it":
// the object is not there, or the store does not answer (the fill then
// streams the upstream's verified bytes, and stores them only if the
// store is back by the commit).
func missing(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, fault.Unavailable)
}

// Missing is missing for the callers that look in the cache before they
// fetch (pull.Artifacts).
func Missing(err error) bool { return missing(err) }
