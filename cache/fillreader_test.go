package cache_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

type sectioner interface {
	Section(start, length int64) (io.Reader, error)
}

// A range of a fill in progress gives the right bytes and ends only once
// the whole object is verified; a bad fill never ends it cleanly.
func TestFillSection(t *testing.T) {
	f := func(name string, corruptAt int, wantErr bool) {
		t.Run(name, func(t *testing.T) {
			c := newCache(t)
			data := randomBytes(2 << 20)
			d := digest.FromBytes(data)
			src := &slowSource{data: data, corruptAt: corruptAt, dieAt: -1, pause: time.Millisecond}
			obj, err := c.Fetch(context.Background(), cache.BlobKey(d), cache.Expect{Digest: d, Size: int64(len(data))}, src.open)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Body.Close()
			s, ok := obj.Body.(sectioner)
			if !ok || obj.Result != "miss" {
				t.Fatalf("a follower (%s) is no sectioner", obj.Result)
			}
			r, err := s.Section(10, 100)
			if err != nil {
				t.Fatal(err)
			}
			// A client counts the bytes of a 206: the last one is the end.
			got := make([]byte, 100)
			_, err = io.ReadFull(r, got)
			if wantErr {
				if err == nil {
					t.Fatal("a range of a bad fill was given whole")
				}
				return
			}
			if err != nil || !bytes.Equal(got, data[10:110]) {
				t.Fatalf("range: %d bytes, %v", len(got), err)
			}
			if _, err := c.Stat(context.Background(), cache.BlobKey(d)); err != nil {
				t.Fatalf("the range ended before the fill committed: %v", err)
			}
		})
	}
	f("good", -1, false)
	f("bad last byte", 2<<20-1, true)
}

// fileSink records how many bytes reached its ReadFrom as a file: what a
// connection sends by sendfile.
type fileSink struct {
	bytes.Buffer
	fromFile int64
}

func (w *fileSink) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.Buffer.ReadFrom(r)
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			w.fromFile += n
		}
	}
	return n, err
}

// A follower of a fill that has committed sends the rest from the file.
func TestFillFollowerSwitchesToFile(t *testing.T) {
	c := openWrapped(t, t.TempDir(), adopting)
	data := randomBytes(1 << 20)
	d := digest.FromBytes(data)
	src := &slowSource{data: data, corruptAt: -1, dieAt: -1, pause: time.Millisecond}
	obj, err := c.Fetch(context.Background(), cache.BlobKey(d), cache.Expect{Digest: d, Size: -1}, src.open)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(obj.Body, head); err != nil {
		t.Fatal(err)
	}
	c.Close() // waits for the fill to end; its readers live on
	var w fileSink
	w.Write(head)
	wt, ok := obj.Body.(io.WriterTo)
	if !ok {
		t.Fatal("a follower is no io.WriterTo")
	}
	if _, err := wt.WriteTo(&w); err != nil || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("%d bytes, %v", w.Len(), err)
	}
	if w.fromFile != int64(len(data)-len(head)) {
		t.Fatalf("%d of %d bytes from the file", w.fromFile, len(data)-len(head))
	}
}
