package httpx_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/proxy/httpx"
)

// pacedBody gives its bytes 32 KiB at a time with a pause, the last one
// flipped if bad: an upstream still sending when the client asks.
type pacedBody struct {
	b   []byte
	bad bool
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	n := copy(b[:min(len(b), 32<<10)], p.b)
	p.b = p.b[n:]
	if p.bad && len(p.b) == 0 {
		b[n-1] ^= 0xff
	}
	return n, nil
}

// A Range on an object whose cache fill is still running is a 206 of the
// right bytes, which ends only once the whole object is verified: for bad
// bytes the client sees a cut response, never a complete one.
func TestServeContentRangeOfFill(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	d := digest.FromBytes(data)
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		c := cachetest.Open(t, t.TempDir()) // cold every time
		bad := ctx.QueryArgs().Has("bad")
		obj, err := c.Fetch(context.Background(), cache.BlobKey(d), cache.Expect{Digest: d, Size: -1},
			func(context.Context) (io.ReadCloser, int64, error) {
				return io.NopCloser(&pacedBody{b: bytes.Clone(data), bad: bad}), int64(len(data)), nil
			})
		if err != nil {
			ctx.Error(err.Error(), 500)
			return
		}
		httpx.ServeContent(ctx, obj.Body, obj.Size, "")
	})
	f := func(query, rng string, wantStatus int, want []byte, wantCut bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/?"+query, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			if wantCut {
				return // cut before the headers left the write buffer
			}
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d, want %d", query, rng, resp.StatusCode, wantStatus)
		}
		if wantCut {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s %s: %d bytes, %v; want a cut response", query, rng, len(b), err)
			}
			return
		}
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s %s: %d bytes, %v", query, rng, len(b), err)
		}
	}
	f("", "bytes=1000-299999", 206, data[1000:300000], false)
	f("", "bytes=-10", 206, data[len(data)-10:], false)
	f("", "", 200, data, false)
	f("bad", "bytes=1000-299999", 206, nil, true) // more than the write buffer
	f("bad", "", 200, nil, true)
}
