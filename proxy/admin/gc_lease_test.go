package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/cache"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
)

// TestGCWithoutTheLeaseNamesTheHolder: `nora gc` on an instance that
// shares a bucket but does not hold the maintenance lease fails at once
// and says which instance runs GC.
func TestGCWithoutTheLeaseNamesTheHolder(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	open := func() *cache.Cache {
		dir := t.TempDir()
		s, err := s3store.Open(ctx, srv.Config(bucket), s3store.Options{SpoolDir: filepath.Join(dir, "spool")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	holder, other := open(), open()
	holder.Start(cache.Limits{})
	for deadline := time.Now().Add(30 * time.Second); !holder.Lease().Held(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first instance never took the lease")
		}
	}
	other.Start(cache.Limits{})
	s := startServer(t, Options{Jobs: map[string]Job{
		"gc": func(ctx context.Context, dry bool, progress func(done, total int64)) (any, error) {
			return other.GC(ctx, cache.GCOptions{DryRun: dry, Progress: progress})
		},
	}})
	cl := NewClient(s.Socket())
	st, err := cl.Start(ctx, "gc", false)
	for deadline := time.Now().Add(30 * time.Second); err == nil && st.State == Running; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("gc without the lease did not end")
		}
		st, err = cl.Job(ctx, "gc")
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Failed || !strings.Contains(st.Error, "holds the maintenance lease") || !strings.Contains(st.Error, holder.Lease().ID()) {
		t.Fatalf("gc on the instance without the lease: %+v", st)
	}
}

// TestPrecheckRefusesWith409: a job the precheck refuses is not started;
// the POST answers 409 with the reason, and a scheduled tick skips it.
func TestPrecheckRefusesWith409(t *testing.T) {
	ran := make(chan string, 4)
	ticks := make(chan time.Time)
	job := func(name string) Job {
		return func(ctx context.Context, dry bool, progress func(done, total int64)) (any, error) {
			ran <- name
			return nil, nil
		}
	}
	s := startServer(t, Options{
		Jobs:     map[string]Job{"gc": job("gc"), "retention": job("retention"), "reindex": job("reindex")},
		Schedule: "0 3 * * *",
		ticks:    ticks,
		Precheck: func(name string) error {
			if name == "reindex" {
				return nil
			}
			return cache.ErrLeaseHeld
		},
	})
	cl := NewClient(s.Socket())
	ctx := context.Background()
	if _, err := cl.Start(ctx, "gc", false); err == nil || !strings.Contains(err.Error(), "holds the maintenance lease") {
		t.Fatalf("gc refused by the precheck: %v", err)
	}
	if _, err := cl.Start(ctx, "reindex", false); err != nil {
		t.Fatalf("reindex: %v", err)
	}
	if got := <-ran; got != "reindex" {
		t.Fatalf("ran %s", got)
	}
	ticks <- time.Now()
	// The tick's run is over when a second tick is taken; neither job ran.
	ticks <- time.Now()
	select {
	case got := <-ran:
		t.Fatalf("a scheduled %s ran despite the precheck", got)
	default:
	}
}
