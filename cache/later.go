package cache

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A small document fetched into memory and checked (a packument, a simple
// page, an index file) is answered before it is stored: PutLater writes
// its blob and its ref in the background once the requests pause
// (lull.go), a key's writes in the order they were asked, and until then
// Ref, Stat and Open answer for them from memory. A cold install then
// waits for no durable commit of documents (a sync of each file and
// directory, two objects per package); a crash before the write costs one
// more fetch, as a cache miss does. Bounded: past laterDocs documents or
// laterBytes bytes waiting, PutLater declines and the caller stores at
// the store's pace.
const (
	laterDocs  = 1024
	laterBytes = 8 << 20
)

type laterDoc struct {
	ref  Ref
	body []byte
	done chan struct{} // closed once written or failed
}

type laterWrites struct {
	n     atomic.Int64 // documents waiting; 0 spares the lookups a lock
	wg    sync.WaitGroup
	mu    sync.Mutex
	refs  map[string]*laterDoc // by ref key
	blobs map[string]*laterDoc // by blob key
	bytes int64
}

// PutLater stores body (content addressed by ref.Digest, already
// verified) and then ref under key, in the background; false: the bounds
// are reached and nothing was done.
func (c *Cache) PutLater(key string, ref Ref, body []byte) bool {
	l := &c.later
	if ref.Digest.Validate() != nil || CheckKey(key) != nil {
		return false
	}
	blob, size := BlobKey(ref.Digest), int64(len(body))
	l.mu.Lock()
	if l.n.Load() >= laterDocs || l.bytes+size > laterBytes {
		l.mu.Unlock()
		return false
	}
	if l.refs == nil {
		l.refs, l.blobs = map[string]*laterDoc{}, map[string]*laterDoc{}
	}
	prev, read := l.refs[key], time.Now()
	d := &laterDoc{ref: ref, body: body, done: make(chan struct{})}
	l.refs[key], l.blobs[blob] = d, d
	l.n.Add(1)
	l.bytes += size
	l.wg.Add(1)
	l.mu.Unlock()
	// Memory now holds a newer ref of key than the store: readers that
	// keep refs (pull.Refs) must look again.
	c.commits(key).Add(1)
	go func() {
		defer l.wg.Done()
		if prev != nil {
			<-prev.done
		}
		c.lull.wait()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.bg), 2*time.Minute)
		defer cancel()
		err := c.putBlob(ctx, ref.Digest, body, false, read)
		if err == nil {
			err = c.PutRef(ctx, key, ref)
		}
		if err != nil && !IsNoSpace(err) {
			c.log.Warn("cannot store document", "key", key, "err", err)
		}
		l.mu.Lock()
		if l.refs[key] == d {
			delete(l.refs, key)
		}
		if l.blobs[blob] == d {
			delete(l.blobs, blob)
		}
		l.n.Add(-1)
		l.bytes -= size
		l.mu.Unlock()
		close(d.done)
	}()
	return true
}

// WaitLater returns once every write that follows its reply has ended
// (written or failed): the documents PutLater took and the commits of
// fills whose readers ended at the verdict (settling.go). For whoever
// reads the store itself (a test).
func (c *Cache) WaitLater() {
	c.lull.releaseNow()
	c.later.wg.Wait()
	c.settling.wait()
}

// laterRef is the ref of key waiting to be written, if any.
func (c *Cache) laterRef(key string) (Ref, bool) {
	l := &c.later
	if l.n.Load() == 0 {
		return Ref{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.refs[key]; d != nil {
		return d.ref, true
	}
	return Ref{}, false
}

// laterBlob is the body of blob key waiting to be written, if any.
func (c *Cache) laterBlob(key string) ([]byte, bool) {
	l := &c.later
	if l.n.Load() == 0 {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.blobs[key]; d != nil {
		return d.body, true
	}
	return nil, false
}

// laterObject opens blob key from memory while it waits to be written.
func (c *Cache) laterObject(key string) (*Object, bool) {
	body, ok := c.laterBlob(key)
	if !ok {
		return nil, false
	}
	return &Object{Body: io.NopCloser(bytes.NewReader(body)), Size: int64(len(body)), Result: "hit"}, true
}
