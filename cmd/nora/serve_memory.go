package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// softMemoryLimit is the soft limit on the Go runtime's memory (heap,
// stacks and the runtime's own) nora serve keeps when GOMEMLIMIT is not
// set. Without one the heap grows to twice what is live before the GC
// runs: under the soak's 500 clients about 40 MiB live became a resident
// set of over 110 MiB. With it the GC runs sooner instead, and the
// resident set stays near the limit.
const softMemoryLimit = 80 << 20

// The limit never leaves the GC less room than a quarter of the live heap
// (minHeadroom): a box whose live heap outgrows softMemoryLimit gets a
// higher limit rather than a GC that runs without pause. It is revised
// every limitEvery.
const (
	minHeadroom = 4 // the room is at least live heap / minHeadroom
	limitEvery  = time.Second
)

// limitMemory sets the soft memory limit and revises it until ctx ends or
// the returned func is called, which puts the limit back as it was. With
// GOMEMLIMIT set it does nothing: the Go runtime has read that one, and
// the user's word wins.
func limitMemory(ctx context.Context, log *slog.Logger) (restore func()) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("soft memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return func() {}
	}
	was := debug.SetMemoryLimit(-1)
	l := newMemoryLimiter(softMemoryLimit)
	l.revise()
	log.Info("soft memory limit", "bytes", l.set, "GOMEMLIMIT", "unset")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(limitEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.revise()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		debug.SetMemoryLimit(was)
	}
}

// memoryLimiter keeps the runtime's memory limit at base, or higher when
// the live heap needs the room.
type memoryLimiter struct {
	base    int64
	set     int64 // the limit last set
	samples []metrics.Sample
}

// The runtime/metrics memoryLimiter reads: the live heap, and the classes
// that make up the memory the limit counts.
var limiterMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

func newMemoryLimiter(base int64) *memoryLimiter {
	l := &memoryLimiter{base: base, samples: make([]metrics.Sample, len(limiterMetrics))}
	for i, name := range limiterMetrics {
		l.samples[i].Name = name
	}
	return l
}

// want is the limit for what is in use now: base, unless the live heap and
// the memory beside the heap's objects (stacks, the runtime's metadata)
// plus the least room would not fit under it.
func (l *memoryLimiter) want() int64 {
	metrics.Read(l.samples)
	v := make([]int64, len(l.samples))
	for i, s := range l.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(s.Value.Uint64())
		}
	}
	live := v[0]
	beside := v[1] - v[2] - v[3] - v[4] - v[5]
	need := live + beside + live/minHeadroom
	const mib = 1 << 20
	return max(l.base, (need+mib-1)&^(mib-1)) // whole MiB: fewer changes
}

// revise sets the limit to want, if that changed it.
func (l *memoryLimiter) revise() {
	if w := l.want(); w != l.set {
		debug.SetMemoryLimit(w)
		l.set = w
	}
}
