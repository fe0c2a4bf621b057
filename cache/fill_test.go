package cache_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
)

func newCache(t *testing.T) *cache.Cache {
	t.Helper()
	c := cachetest.Open(t, t.TempDir())
	return c
}

// slowSource serves data in small pieces with a pause, counting opens. If
// corruptAt >= 0 that byte is flipped; if dieAt >= 0 the body fails there.
type slowSource struct {
	data      []byte
	opens     atomic.Int32
	corruptAt int
	dieAt     int
	pause     time.Duration
}

func (s *slowSource) open(ctx context.Context) (io.ReadCloser, int64, error) {
	s.opens.Add(1)
	b := append([]byte(nil), s.data...)
	if s.corruptAt >= 0 {
		b[s.corruptAt] ^= 0xff
	}
	return io.NopCloser(&pacedReader{b: b, die: s.dieAt, pause: s.pause}), int64(len(s.data)), nil
}

type pacedReader struct {
	b     []byte
	off   int
	die   int
	pause time.Duration
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	if r.die >= 0 && r.off >= r.die {
		return 0, errors.New("connection reset by peer")
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), 64<<10)], r.b[r.off:])
	if r.die >= 0 && r.off+n > r.die {
		n = r.die - r.off
	}
	r.off += n
	return n, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	return b
}

func fetchAll(c *cache.Cache, key string, want cache.Expect, src cache.Source) ([]byte, string, error) {
	return readObject(c.Fetch(context.Background(), key, want, src))
}

func fetchNamedAll(c *cache.Cache, name string, want cache.Expect, src cache.Source) ([]byte, string, error) {
	return readObject(c.FetchNamed(context.Background(), name, want, src))
}

func readObject(obj *cache.Object, err error) ([]byte, string, error) {
	if err != nil {
		return nil, "", err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	return b, obj.Result, err
}

func TestFillFanOut(t *testing.T) {
	c := newCache(t)
	data := randomBytes(4 << 20)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1, pause: time.Millisecond}
	key := cache.BlobKey(d)
	var wg sync.WaitGroup
	results := make([]string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, res, err := fetchAll(c, key, cache.Expect{Digest: d, Size: int64(len(data))}, src.open)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("reader %d: %d bytes, err %v", i, len(got), err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	if n := src.opens.Load(); n != 1 {
		t.Fatalf("upstream opened %d times, want 1", n)
	}
	got, res, err := fetchAll(c, key, cache.Expect{Digest: d, Size: -1}, src.open)
	if err != nil || res != "hit" || !bytes.Equal(got, data) {
		t.Fatalf("warm fetch: result %q err %v", res, err)
	}
}

func TestFillRefusesBadBytes(t *testing.T) {
	f := func(name string, src *slowSource, wantErr error) {
		t.Run(name, func(t *testing.T) {
			c := newCache(t)
			d := digest.FromBytes(src.data)
			key := cache.BlobKey(d)
			want := cache.Expect{Digest: d, Size: int64(len(src.data))}
			got, _, err := fetchAll(c, key, want, src.open)
			if err == nil || (wantErr != nil && !errors.Is(err, wantErr)) {
				t.Fatalf("read %d bytes, err %v; want %v", len(got), err, wantErr)
			}
			if len(got) >= len(src.data) {
				t.Fatalf("reader got all %d bytes of a bad fill", len(got))
			}
			if _, err := c.Stat(context.Background(), key); !errors.Is(err, cache.ErrNotFound) {
				t.Fatalf("bad fill committed: %v", err)
			}
			src.corruptAt, src.dieAt = -1, -1
			got, _, err = fetchAll(c, key, want, src.open)
			if err != nil || !bytes.Equal(got, src.data) {
				t.Fatalf("retry after fix: %d bytes, %v", len(got), err)
			}
		})
	}
	data := randomBytes(1 << 20)
	f("corrupt last byte", &slowSource{data: data, corruptAt: len(data) - 1, dieAt: -1}, cache.ErrVerify)
	f("corrupt first byte", &slowSource{data: data, corruptAt: 0, dieAt: -1}, cache.ErrVerify)
	f("dies midway", &slowSource{data: data, corruptAt: -1, dieAt: len(data) / 2}, nil)
}

func TestFillDetachedFromCaller(t *testing.T) {
	c := newCache(t)
	data := randomBytes(1 << 20)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1, pause: 2 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	obj, err := c.Fetch(ctx, cache.BlobKey(d), cache.Expect{Digest: d, Size: -1}, src.open)
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, obj.Body, 1000)
	obj.Body.Close()
	cancel() // the client went away
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Stat(context.Background(), cache.BlobKey(d)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fill did not complete after its client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if src.opens.Load() != 1 {
		t.Fatal("fill restarted")
	}
}

func TestFetchNamed(t *testing.T) {
	c := newCache(t)
	data := randomBytes(300 << 10)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1}
	sum := sha1.Sum(data)
	want := cache.Expect{SHA1: hex.EncodeToString(sum[:]), Size: -1}
	for _, name := range []string{"npm/a/-/a-1.tgz", "maven/x/a-1.jar", "npm/a/-/a-1.tgz"} {
		got, _, err := fetchNamedAll(c, name, want, src.open)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if n := src.opens.Load(); n != 2 {
		t.Fatalf("upstream opened %d times for two names, want 2", n)
	}
	c.WaitLater() // the commits behind the readers
	obj, err := c.OpenNamed(context.Background(), "maven/x/a-1.jar")
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()
	if _, err := c.Stat(context.Background(), cache.BlobKey(digest.FromBytes(data))); err != nil {
		t.Fatalf("named object not content addressed by sha256: %v", err)
	}
	bad := &slowSource{data: data, corruptAt: 7, dieAt: -1}
	if _, _, err := fetchNamedAll(c, "npm/b/-/b-1.tgz", want, bad.open); !errors.Is(err, cache.ErrVerify) {
		t.Fatalf("sha1 mismatch: %v", err)
	}
	if _, err := c.OpenNamed(context.Background(), "npm/b/-/b-1.tgz"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("refused object has a name: %v", err)
	}
}
