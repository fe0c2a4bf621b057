package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// keepMemoryLimit restores the process's memory limit after the test.
func keepMemoryLimit(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(was) })
}

// The limit is the base while the live heap fits under it with room, and
// rises to keep a quarter of the live heap free when it does not; it
// comes back down once the heap is freed. (The bases are far from what the
// test binary itself holds, whatever other tests left.)
func TestMemoryLimiter(t *testing.T) {
	keepMemoryLimit(t)
	const large = 1 << 30
	l := newMemoryLimiter(large)
	runtime.GC()
	l.revise()
	if got := debug.SetMemoryLimit(-1); got != large || l.set != large {
		t.Fatalf("heap far under the base: limit %d (set %d), want the base %d", got, l.set, large)
	}

	l.base = 1 << 20
	ballast := make([][]byte, 64)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
	}
	runtime.GC() // the live heap is what the last GC found
	l.revise()
	raised := debug.SetMemoryLimit(-1)
	if raised < 64<<20+64<<20/minHeadroom {
		t.Errorf("64 MiB live over a 1 MiB base: limit %d MiB, want room for a quarter more", raised>>20)
	}
	if raised%(1<<20) != 0 {
		t.Errorf("limit %d is not whole MiB", raised)
	}
	runtime.KeepAlive(ballast)

	ballast = nil
	runtime.GC()
	l.revise()
	if got := debug.SetMemoryLimit(-1); got > raised-32<<20 {
		t.Errorf("64 MiB freed: limit %d MiB, was %d MiB", got>>20, raised>>20)
	}
	l.base = large
	l.revise()
	if got := debug.SetMemoryLimit(-1); got != large {
		t.Errorf("back under the base: limit %d, want the base %d", got, large)
	}
}

// A GOMEMLIMIT set by the user wins: nora serve leaves the runtime's limit
// as it was and says so. Without one it sets its own, and puts the old one
// back when it returns.
func TestMemoryLimitGOMEMLIMIT(t *testing.T) {
	keepMemoryLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "512MiB")
	var log bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	limitMemory(ctx, slog.New(slog.NewTextHandler(&log, nil)))()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: limit changed to %d", got)
	}
	if !strings.Contains(log.String(), "GOMEMLIMIT=512MiB") {
		t.Errorf("log: %q", log.String())
	}

	t.Setenv("GOMEMLIMIT", "")
	log.Reset()
	restore := limitMemory(ctx, slog.New(slog.NewTextHandler(&log, nil)))
	if got := debug.SetMemoryLimit(-1); got < softMemoryLimit || got == math.MaxInt64 {
		t.Errorf("GOMEMLIMIT unset: limit %d, want %d or, for a larger live heap, more", got, softMemoryLimit)
	}
	if !strings.Contains(log.String(), "soft memory limit") {
		t.Errorf("log: %q", log.String())
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after serve: limit %d, want it back as it was", got)
	}
}
