package httpx

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadUpTo(t *testing.T) {
	f := func(size int, limit int64, wantLen int) {
		t.Helper()
		in := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		// One byte per Read at first, then whatever fits: chunk edges move.
		got, err := readUpTo(io.MultiReader(iotest.OneByteReader(bytes.NewReader(in[:min(size, 3)])), bytes.NewReader(in[min(size, 3):])), limit)
		if err != nil || len(got) != wantLen || !bytes.Equal(got, in[:wantLen]) {
			t.Fatalf("readUpTo(%d bytes, %d): %d bytes, %v; want %d", size, limit, len(got), err, wantLen)
		}
	}
	f(0, 10, 0)
	f(10, 10, 10)
	f(11, 10, 11) // limit+1: the caller's "too large"
	f(1000, 10, 11)
	f(64<<10, 1<<20, 64<<10)
	f(64<<10+1, 1<<20, 64<<10+1)
	f(1<<20, 1<<20, 1<<20)
	f(3<<20, 1<<20, 1<<20+1)
	f(200<<10, 128<<10, 128<<10+1)

	boom := errors.New("boom")
	if _, err := readUpTo(io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), iotest.ErrReader(boom)), 1<<20); err != boom {
		t.Fatalf("error mid-body: %v", err)
	}
	if _, err := readUpTo(io.MultiReader(bytes.NewReader(make([]byte, 100)), iotest.ErrReader(io.ErrUnexpectedEOF)), 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
}

func TestStrictBody(t *testing.T) {
	f := func(have, declared int, want error) {
		t.Helper()
		_, err := io.Copy(io.Discard, &strictBody{r: bytes.NewReader(make([]byte, have)), left: int64(declared)})
		if !errors.Is(err, want) && err != want {
			t.Fatalf("%d of %d bytes: %v, want %v", have, declared, err, want)
		}
	}
	f(10, 10, nil)
	f(9, 10, io.ErrUnexpectedEOF)
	f(0, 10, io.ErrUnexpectedEOF)
	f(0, 0, nil)
	f(5, -1, nil) // chunked: fasthttp checks the framing
}

func TestBodyStatus(t *testing.T) {
	if s := BodyStatus(errors.New("x")); s != 400 {
		t.Fatalf("plain error: %d", s)
	}
	if s := BodyStatus(&bodyError{status: 503, msg: "busy"}); s != 503 {
		t.Fatalf("busy: %d", s)
	}
}
