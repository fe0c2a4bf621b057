package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// itemProgress shows the progress of a server job over items (a prefetch,
// a replication): a bar on a terminal, a line every 5 s otherwise.
type itemProgress interface {
	// update shows done of total items and bytes; running is false once
	// the job ended (no line is written then).
	update(done, total, bytes int64, running bool)
	finish(ok bool)
}

// itemProgress is the view of job name for c's output; bytesWord says
// what the bytes are in plain lines ("" or " sent").
func (c *adminCLI) itemProgress(ctx context.Context, name, bytesWord string, asJSON bool) itemProgress {
	if isTerminal(c.stdout) && !asJSON {
		p := mpb.NewWithContext(ctx, mpb.WithOutput(c.stdout), mpb.WithWidth(40))
		bytes := new(atomic.Int64)
		b := p.AddBar(0,
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d items", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return humanSize(bytes.Load()) }, decor.WCSyncSpace)))
		return &itemBar{p: p, b: b, bytes: bytes}
	}
	return &itemLines{w: c.stderr, name: name, bytesWord: bytesWord, every: 5 * time.Second, last: time.Now()}
}

// itemBar is the progress bar on a terminal: items, and bytes.
type itemBar struct {
	p     *mpb.Progress
	b     *mpb.Bar
	bytes *atomic.Int64 // read by the decorator on mpb's goroutine
}

func (b *itemBar) update(done, total, bytes int64, _ bool) {
	b.bytes.Store(bytes)
	b.b.SetTotal(total, false)
	b.b.SetCurrent(done)
}

func (b *itemBar) finish(ok bool) {
	if ok {
		b.b.SetTotal(-1, true)
	} else {
		b.b.Abort(false)
	}
	b.p.Wait()
}

// itemLines writes a line now and then, for logs and pipes.
type itemLines struct {
	w               io.Writer
	name, bytesWord string
	every           time.Duration
	last            time.Time
}

func (p *itemLines) update(done, total, bytes int64, running bool) {
	if now := time.Now(); now.Sub(p.last) >= p.every && running {
		p.last = now
		fmt.Fprintf(p.w, "%s: %d/%d items, %s%s\n", p.name, done, total, humanSize(bytes), p.bytesWord)
	}
}

func (p *itemLines) finish(bool) {}
