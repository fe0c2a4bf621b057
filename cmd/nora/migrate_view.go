package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"nora/cache/transfer"
)

// transferView shows a migrate, backup or restore as it goes: a bar of
// bytes on a terminal, else a line every few seconds. Failures always get
// a line; a dry run lists what it would copy on out.
type transferView struct {
	name string
	out  io.Writer // "would copy" lines
	log  io.Writer // progress and failure lines (the bar's writer on a terminal)

	p   *mpb.Progress
	bar *mpb.Bar

	mu          sync.Mutex
	total, done int64 // bytes
	items       int64
	last        time.Time
}

// untilSignal is ctx until SIGINT or SIGTERM: migrate, backup and restore
// then stop between objects and clean up their temp files; a second signal
// kills at once.
func untilSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// plainEvery is how often a plain progress line is written.
const plainEvery = 5 * time.Second

func newTransferView(name string, out, errw io.Writer, bar bool) *transferView {
	v := &transferView{name: name, out: out, log: errw, last: time.Now()}
	if bar {
		v.p = mpb.New(mpb.WithOutput(errw), mpb.WithWidth(40))
		v.bar = v.p.AddBar(0,
			mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR),
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
		v.log = v.p
	}
	return v
}

// listed grows the total by one object or file of size bytes.
func (v *transferView) listed(size int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.total += size
	if v.bar != nil {
		v.bar.SetTotal(v.total, false)
	}
}

// event counts one object or file done.
func (v *transferView) event(e transfer.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.done += e.Size
	v.items++
	name := e.Key
	if name == "" {
		name = "file " + e.File
	}
	switch e.Action {
	case transfer.Failed:
		fmt.Fprintf(v.log, "failed %s: %s\n", name, e.Err)
	case transfer.WouldCopy:
		fmt.Fprintf(v.out, "would copy %s (%s)\n", name, humanSize(e.Size))
	}
	if v.bar != nil {
		v.bar.SetCurrent(v.done)
		return
	}
	if now := time.Now(); now.Sub(v.last) >= plainEvery {
		v.last = now
		fmt.Fprintf(v.log, "%s: %d done, %s of %s listed so far\n", v.name, v.items, humanSize(v.done), humanSize(v.total))
	}
}

// finish ends the bar.
func (v *transferView) finish(ok bool) {
	if v.bar == nil {
		return
	}
	if ok {
		v.bar.SetTotal(-1, true)
	} else {
		v.bar.Abort(false)
	}
	v.p.Wait()
}

// printReport prints the counts, or the report as JSON.
func printReport(w io.Writer, verb string, rep transfer.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if rep.WouldCopy > 0 || verb == "would copy" {
		fmt.Fprintf(w, "would copy %d (%s)\n", rep.WouldCopy, humanSize(rep.WouldBytes))
	} else {
		fmt.Fprintf(w, "%s %d (%s)\n", verb, rep.Copied, humanSize(rep.CopiedBytes))
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d already there (%s)\n", rep.Skipped, humanSize(rep.SkippedBytes))
	}
	if rep.Failed > 0 {
		fmt.Fprintf(w, "failed %d (%s)\n", rep.Failed, humanSize(rep.FailedBytes))
	}
	return nil
}
