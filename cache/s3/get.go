package s3

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"nora/cache"
)

// Get streams the object from offset. The body outlives ctx's request
// handler: it is bounded by stalls (no byte for Options.Stall), not by
// the caller's deadline, since a response is written after its handler
// returns; nor does it carry ctx's values (see scoped). A body not yet read serves a Range by asking the store for
// exactly that range (httpx.Sectioner).
func (s *Store) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, cache.Info, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, cache.Info{}, err
	}
	b := &body{s: s, key: key, k: k}
	rng := ""
	if offset > 0 {
		rng = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	info, err := b.open(context.WithoutCancel(noValues{ctx}), rng)
	if err != nil {
		return nil, cache.Info{}, err
	}
	if offset > 0 && info.Size < offset {
		b.Close()
		return nil, cache.Info{}, fmt.Errorf("storage: get %s from %d: object has %d bytes", key, offset, info.Size)
	}
	return b, info, nil
}

// body is an object's bytes as the store sends them, with a watchdog that
// closes the stream when it stalls.
type body struct {
	s      *Store
	key, k string
	ctx    context.Context

	mu    sync.Mutex
	rc    io.ReadCloser
	read  bool // a byte was taken: Section must not restart
	timer *time.Timer
	err   error
}

// open starts the GetObject for rng ("" for all) and returns the whole
// object's size.
func (b *body) open(ctx context.Context, rng string) (cache.Info, error) {
	in := &s3.GetObjectInput{Bucket: &b.s.bucket, Key: &b.k}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	ctx, cancel := context.WithCancel(ctx)
	out, err := b.s.client.GetObject(ctx, in)
	if err != nil {
		cancel()
		if status(err) == 416 {
			return cache.Info{}, fmt.Errorf("storage: get %s: range %s not satisfiable", b.key, rng)
		}
		return cache.Info{}, wrap("get", b.key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	if cr := aws.ToString(out.ContentRange); cr != "" {
		// "bytes 10-99/100": the whole object's size follows the slash.
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				size = n
			}
		}
	}
	b.mu.Lock()
	b.ctx = ctx
	b.rc = &cancelOnClose{ReadCloser: out.Body, cancel: cancel}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.s.stall, b.stalled)
	} else {
		b.timer.Reset(b.s.stall)
	}
	b.mu.Unlock()
	return cache.Info{Size: size, ModTime: aws.ToTime(out.LastModified)}, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// stalled ends a stream that moved no byte for the stall time.
func (b *body) stalled() {
	b.mu.Lock()
	rc := b.rc
	if b.err == nil {
		b.err = fmt.Errorf("storage: reading %s: no byte for %s", b.key, b.s.stall)
	}
	b.mu.Unlock()
	if rc != nil {
		rc.Close()
	}
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	rc, stallErr := b.rc, b.err
	b.read = true
	b.mu.Unlock()
	if stallErr != nil {
		return 0, stallErr
	}
	n, err := rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.s.stall)
	}
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err != nil {
			err = b.err
		}
		b.mu.Unlock()
		return n, wrap("read", b.key, err)
	}
	return n, err
}

// Section asks the store for length bytes from start in place of the
// stream opened by Get, which is closed unread.
func (b *body) Section(start, length int64) (io.Reader, error) {
	b.mu.Lock()
	if b.read {
		b.mu.Unlock()
		return nil, fmt.Errorf("storage: %s: range after read", b.key)
	}
	old := b.rc
	b.mu.Unlock()
	old.Close()
	rng := "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+length-1, 10)
	if _, err := b.open(context.WithoutCancel(b.ctx), rng); err != nil {
		return nil, err
	}
	return io.LimitReader(b, length), nil
}

func (b *body) Close() error {
	b.mu.Lock()
	rc := b.rc
	b.mu.Unlock()
	b.timer.Stop()
	return rc.Close()
}
