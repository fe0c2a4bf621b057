package cache

import (
	"errors"
	"io"
	"os"
	"sync"
)

// fillReader follows a growing temp file. It holds back the final byte
// until the fill is verified and committed, so a reader never sees a clean
// end of bad bytes; when the fill fails every reader gets the error. After
// a pass-through began, the bytes past the temp file come from its pipe,
// whose writer holds back the last chunk until the bytes are verified.
type fillReader struct {
	f     *fill
	file  *os.File
	pos   int64
	end   int64          // -1, or where a Section ends
	pipe  *io.PipeReader // set under f.mu when the fill passes through
	pipeW *io.PipeWriter
	// ranged (under f.mu): the reader serves a Section, so it takes no
	// pipe: a pass-through sends every byte in order, to every pipe.
	ranged bool
}

// errRanged ends the pipe of a reader that serves a range instead.
var errRanged = errors.New("the reader serves a range")

func (r *fillReader) Read(p []byte) (int, error) {
	for {
		r.f.mu.Lock()
		written, done, err, ch, passAt := r.f.written, r.f.done, r.f.err, r.f.notify, r.f.passAt
		verified := r.f.verified && passAt < 0
		r.f.mu.Unlock()
		if passAt >= 0 && r.pos >= passAt {
			if r.pipe == nil { // attached too late (follow prevents it) or ranged
				return 0, errMissedFill
			}
			n, err := r.pipe.Read(p)
			r.pos += int64(n)
			return n, err
		}
		if err != nil && !verified {
			return 0, err
		}
		limit := written
		if r.end >= 0 {
			limit = min(limit, r.end)
		}
		if !done && !verified && (passAt < 0 || r.end >= 0) {
			limit-- // the last byte this reader gives waits for the verdict
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
		if done || verified {
			return 0, io.EOF
		}
		<-ch
	}
}

// Section makes the reader serve length bytes from start (start+length
// within the declared size), holding the last of them back until the
// whole object is verified: a range of a fill in progress never ends
// cleanly on bytes that turn out to be wrong. Call it before reading.
func (r *fillReader) Section(start, length int64) (io.Reader, error) {
	r.f.mu.Lock()
	r.ranged = true
	if r.pipe != nil {
		r.pipe.CloseWithError(errRanged) // the pass-through drops it
		r.pipe, r.pipeW = nil, nil
	}
	r.f.mu.Unlock()
	r.pos, r.end = start, start+length
	return r, nil
}

// copyBufs are the buffers followers copy a running fill through: reused,
// so that a burst of cold readers allocates none.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// WriteTo sends the reader's bytes to w: those there while the fill runs
// by copying, and once the fill has committed the rest in one piece from
// the file, which a connection's ReadFrom sends by sendfile.
func (r *fillReader) WriteTo(w io.Writer) (int64, error) {
	var sent int64
	var buf *[]byte
	defer func() {
		if buf != nil {
			copyBufs.Put(buf)
		}
	}()
	for {
		if rest, ok := r.settled(); ok {
			n, err := r.sendFile(w, rest)
			return sent + n, err
		}
		if buf == nil {
			buf = copyBufs.Get().(*[]byte)
		}
		n, err := r.Read(*buf)
		if n > 0 {
			m, werr := w.Write((*buf)[:n])
			sent += int64(m)
			if werr != nil {
				return sent, werr
			}
		}
		if err == io.EOF {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
	}
}

// settled reports whether every byte left to read is verified in the
// temp file, and how many there are.
func (r *fillReader) settled() (int64, bool) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.passAt >= 0 || !f.verified && (!f.done || f.err != nil) {
		return 0, false
	}
	end := f.written
	if r.end >= 0 {
		end = min(end, r.end)
	}
	return end - r.pos, true
}

// sendFile copies rest bytes of the file from the reader's position to w
// as an io.LimitedReader over the file: the shape that w's ReadFrom (a
// connection's) turns into sendfile(2).
func (r *fillReader) sendFile(w io.Writer, rest int64) (int64, error) {
	if rest <= 0 {
		return 0, nil
	}
	if _, err := r.file.Seek(r.pos, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &io.LimitedReader{R: r.file, N: rest})
	r.pos += n
	if err == nil && n < rest {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *fillReader) Close() error {
	r.f.mu.Lock()
	pipe := r.pipe
	r.f.mu.Unlock()
	if pipe != nil {
		pipe.CloseWithError(errors.New("reader closed"))
	}
	return r.file.Close()
}
