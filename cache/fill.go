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
var ErrVerify = errors.New("content does not match its declared digest or size")

// Object is a readable object: committed, or a fill in progress that the
// reader follows. Body is an *os.File for committed disk objects.
type Object struct {
	Body   io.ReadCloser
	Size   int64  // -1 = unknown until the end
	Result string // "hit", "miss" (this request started the fill) or "fill-wait"
}

// fill is one upstream fetch written to a temp file that any number of
// readers follow while it grows.
type fill struct {
	mu      sync.Mutex
	notify  chan struct{} // closed and replaced on every change
	ready   bool          // tmp and size are known
	tmp     string
	size    int64
	written int64
	done    bool
	err     error
	final   string // the committed object's key, set before done
	waiters int
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

func (f *fill) finish(final string, err error) {
	f.mu.Lock()
	f.done, f.err, f.final = true, err, final
	f.changed()
	f.mu.Unlock()
}

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

// OpenNamed opens the object a FetchNamed stored under name.
func (c *Cache) OpenNamed(ctx context.Context, name string) (*Object, error) {
	key, err := c.resolveName(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.openCommitted(ctx, key)
}

func (c *Cache) resolveName(ctx context.Context, name string) (string, error) {
	ref, err := c.Ref(ctx, name)
	if err != nil {
		return "", err
	}
	if ref.Digest.Validate() != nil {
		return "", fmt.Errorf("ref %s holds no valid digest", name)
	}
	return BlobKey(ref.Digest), nil
}

func (c *Cache) fetch(ctx context.Context, key string, named bool, want Expect, src Source) (*Object, error) {
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
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	c.mu.Lock()
	f, running := c.fills[key]
	if !running {
		f = &fill{notify: make(chan struct{}), size: -1}
		c.fills[key] = f
		c.wg.Add(1)
		go c.runFill(key, named, f, want, src)
	}
	c.mu.Unlock()
	obj, err = c.follow(ctx, f)
	if err != nil {
		return nil, err
	}
	if running {
		obj.Result = "fill-wait"
	}
	c.countResult(obj.Result)
	return obj, nil
}

// follow waits until f's size is known, then opens a reader of the temp
// file (or of the committed object if the fill already ended).
func (c *Cache) follow(ctx context.Context, f *fill) (*Object, error) {
	for {
		f.mu.Lock()
		ready, done, err, ch, final := f.ready, f.done, f.err, f.notify, f.final
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		if done {
			f.mu.Unlock()
			obj, err := c.openCommitted(ctx, final)
			if err != nil {
				return nil, err
			}
			obj.Result = "miss"
			return obj, nil
		}
		if ready {
			file, err := os.Open(f.tmp)
			if err == nil {
				f.waiters++
				size := f.size
				f.mu.Unlock()
				return &Object{Body: &fillReader{f: f, file: file}, Size: size, Result: "miss"}, nil
			}
			f.mu.Unlock()
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			// Renamed by the commit under way: wait for done.
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
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
	f.finish(final, err)
	c.mu.Lock()
	delete(c.fills, key)
	c.mu.Unlock()
	f.mu.Lock()
	c.fillWaiters.Update(float64(f.waiters))
	f.mu.Unlock()
}

// doFill runs one fill and returns the key the object was committed under.
func (c *Cache) doFill(key string, named bool, f *fill, want Expect, src Source) (final string, err error) {
	ctx := c.bg
	// The object may have been committed between the caller's miss and the
	// registration of this fill.
	if named {
		if k, err := c.resolveName(ctx, key); err == nil {
			if _, err := c.store.Stat(ctx, k); err == nil {
				return k, nil
			}
		}
	} else if _, err := c.store.Stat(ctx, key); err == nil {
		return key, nil
	}
	body, size, err := src(ctx)
	if err != nil {
		return "", err
	}
	defer body.Close()
	if want.Size >= 0 {
		if size >= 0 && size != want.Size {
			return "", fmt.Errorf("cannot fill %s: upstream declares %d bytes, want %d: %w", key, size, want.Size, ErrVerify)
		}
		size = want.Size
	}
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

	var hashes []io.Writer
	var verifier digest.Verifier
	if want.Digest != "" {
		if err := want.Digest.Validate(); err != nil {
			return "", fmt.Errorf("cannot fill %s: %w", key, err)
		}
		verifier = want.Digest.Verifier()
		hashes = append(hashes, verifier)
	}
	var sha1sum, sha256sum hash.Hash
	if want.SHA1 != "" {
		sha1sum = sha1.New()
		hashes = append(hashes, sha1sum)
	}
	if named {
		sha256sum = sha256.New()
		hashes = append(hashes, sha256sum)
	}
	buf := make([]byte, 128<<10)
	var written int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if size >= 0 && written+int64(n) > size {
				return "", fmt.Errorf("cannot fill %s: upstream sent more than %d bytes: %w", key, size, ErrVerify)
			}
			if _, err := tmp.Write(buf[:n]); err != nil {
				return "", fmt.Errorf("cannot write fill of %s: %w", key, err)
			}
			for _, h := range hashes {
				h.Write(buf[:n])
			}
			written += int64(n)
			c.fillBytes.Add(n)
			f.progress(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("cannot fill %s: upstream read failed after %d bytes: %w", key, written, rerr)
		}
	}
	if size >= 0 && written != size {
		return "", fmt.Errorf("cannot fill %s: upstream ended after %d of %d bytes: %w", key, written, size, io.ErrUnexpectedEOF)
	}
	if verifier != nil && !verifier.Verified() {
		return "", fmt.Errorf("cannot fill %s: digest mismatch: %w", key, ErrVerify)
	}
	if sha1sum != nil && !strings.EqualFold(hex.EncodeToString(sha1sum.Sum(nil)), want.SHA1) {
		return "", fmt.Errorf("cannot fill %s: sha1 mismatch: %w", key, ErrVerify)
	}
	final = key
	if named {
		d := digest.NewDigest(digest.SHA256, sha256sum)
		final = BlobKey(d)
		defer func() {
			if err == nil {
				err = c.PutRef(ctx, key, Ref{Digest: d, Size: written, FetchedAt: time.Now()})
			}
		}()
		if _, err := c.store.Stat(ctx, final); err == nil {
			os.Remove(tmp.Name()) // the same bytes are already stored
			return final, nil
		}
	}
	if err := c.commitFile(ctx, tmp, final); err != nil {
		return "", err
	}
	c.index.Added(final, written)
	return final, nil
}

// commitFile makes the finished temp file the object under key, by rename
// where the store allows it, else by copying it in.
func (c *Cache) commitFile(ctx context.Context, tmp *os.File, key string) error {
	if c.adopter != nil {
		return c.adopter.Adopt(tmp.Name(), key)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := c.store.Put(ctx, key, tmp); err != nil {
		return err
	}
	return os.Remove(tmp.Name())
}

// fillReader follows a growing temp file. It holds back the final byte
// until the fill is verified and committed, so a reader never sees a clean
// end of bad bytes; when the fill fails every reader gets the error.
type fillReader struct {
	f    *fill
	file *os.File
	pos  int64
}

func (r *fillReader) Read(p []byte) (int, error) {
	for {
		r.f.mu.Lock()
		written, done, err, ch := r.f.written, r.f.done, r.f.err, r.f.notify
		r.f.mu.Unlock()
		if err != nil {
			return 0, err
		}
		limit := written
		if !done {
			limit--
		}
		if r.pos < limit {
			if int64(len(p)) > limit-r.pos {
				p = p[:limit-r.pos]
			}
			n, err := r.file.ReadAt(p, r.pos)
			r.pos += int64(n)
			if err == io.EOF && n > 0 {
				err = nil
			}
			return n, err
		}
		if done {
			return 0, io.EOF
		}
		<-ch
	}
}

func (r *fillReader) Close() error { return r.file.Close() }
