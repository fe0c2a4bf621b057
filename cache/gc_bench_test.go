package cache_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// rss reads one of the process's memory figures (VmHWM:, VmRSS:, RssAnon:)
// in bytes.
func rss(b *testing.B, field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	b.Fatal("no " + field)
	return 0
}

// BenchmarkGC100k: mark and sweep over 100,000 hosted blobs, half of them
// referenced. Reports the run's time, the process's peak RSS during it
// (reset before the run through /proc/self/clear_refs) and how far the run
// took RSS above where it began.
func BenchmarkGC100k(b *testing.B) {
	const blobs = 100_000
	dir := b.TempDir()
	c, _ := openCacheB(b, dir)
	defer c.Close()
	digests := make([]digest.Digest, blobs)
	write := func(i int) {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		data := sha256.Sum256(seed[:])
		d := digest.FromBytes(data[:])
		digests[i] = d
		p := filepath.Join(dir, "objects", filepath.FromSlash(cache.BlobKey(d)))
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, data[:], 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for i := range blobs {
		write(i)
	}
	all := true
	c.SetMarkers(cache.Referenced(func(fn func(digest.Digest) error) error {
		for i, d := range digests {
			if all || i%2 == 0 {
				if err := fn(d); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	ctx := context.Background()
	var took time.Duration
	var peak, delta float64
	for b.Loop() {
		b.StopTimer()
		all = true
		for i := 1; i < blobs; i += 2 {
			write(i) // what the last run swept
		}
		if _, err := c.Reindex(ctx, nil); err != nil { // all hosted
			b.Fatal(err)
		}
		all = false
		// The GC sweeps files written long ago, not a page cache full of
		// fresh writes; and its peak is measured from a settled heap.
		syscall.Sync()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		base := rss(b, "VmRSS:")
		b.StartTimer()
		start := time.Now()
		last := time.Now()
		rep, err := c.GC(ctx, cache.GCOptions{Progress: func(done, total int64) {
			if time.Since(last) > 500*time.Millisecond {
				b.Log(time.Since(start), done, total)
				last = time.Now()
			}
		}})
		took += time.Since(start)
		b.StopTimer()
		peak = max(peak, rss(b, "VmHWM:"))
		delta = max(delta, rss(b, "VmHWM:")-base)
		b.Logf("rss at start %.1f MB, peak %.1f MB (anon %.1f MB, file %.1f MB at the end)", base/(1<<20), rss(b, "VmHWM:")/(1<<20), rss(b, "RssAnon:")/(1<<20), rss(b, "RssFile:")/(1<<20))
		if err != nil || rep.Count != blobs/2 {
			b.Fatalf("gc removed %d, want %d: %v", rep.Count, blobs/2, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s/gc")
	b.ReportMetric(peak/(1<<20), "peak-rss-MB")
	b.ReportMetric(delta/(1<<20), "gc-rss-growth-MB")
}
