package cache

import (
	"sync"
	"testing"
	"time"
)

// waitDone runs l.wait and reports its return on the channel.
func waitDone(l *lull) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		l.wait()
		close(done)
	}()
	return done
}

// held fails if done closes within a moment: the write still waits.
func held(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s: the write did not wait", what)
	case <-time.After(50 * time.Millisecond):
	}
}

// released fails unless done closes (the bound only ends a broken run).
func released(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the write still waits", what)
	}
}

func TestLull(t *testing.T) {
	t.Run("no request yet", func(t *testing.T) {
		released(t, waitDone(newLull()), "before any request")
	})
	t.Run("held while requests come, until released", func(t *testing.T) {
		l := newLull()
		l.quiet, l.max = time.Hour, time.Hour
		l.busy()
		a, b := waitDone(l), waitDone(l)
		held(t, a, "right after a request")
		l.releaseNow()
		released(t, a, "released")
		released(t, b, "the other write, released")
		// The next write waits again, for the next release.
		c := waitDone(l)
		held(t, c, "a write after the release")
		l.close()
		released(t, c, "closed")
		released(t, waitDone(l), "a write after close")
	})
	t.Run("at the lull", func(t *testing.T) {
		l := newLull()
		l.quiet, l.max = 30*time.Millisecond, time.Hour
		l.busy()
		released(t, waitDone(l), "no request for the quiet time")
	})
	t.Run("a steady load", func(t *testing.T) {
		l := newLull()
		set := func(quiet, max time.Duration) {
			l.mu.Lock()
			l.quiet, l.max = quiet, max
			l.mu.Unlock()
		}
		set(time.Hour, 30*time.Millisecond)
		l.busy()
		released(t, waitDone(l), "waited lullMax")
		// The load outlasted a hold: the next writes go at once.
		set(time.Hour, time.Hour)
		l.busy()
		released(t, waitDone(l), "a write under a steady load")
		// Until the requests pause: then a burst is held again.
		set(30*time.Millisecond, time.Hour)
		time.Sleep(40 * time.Millisecond)
		l.busy()
		set(time.Hour, time.Hour)
		c := waitDone(l)
		held(t, c, "a write after a pause")
		l.releaseNow()
		released(t, c, "released")
	})
	t.Run("when too many wait", func(t *testing.T) {
		l := newLull()
		l.quiet, l.max = time.Hour, time.Hour
		l.busy()
		var wg sync.WaitGroup
		for range lullWaiting - 1 {
			wg.Go(l.wait)
		}
		all := make(chan struct{})
		go func() {
			wg.Wait()
			close(all)
		}()
		held(t, all, "below the bound")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			l.mu.Lock()
			n := l.waiting
			l.mu.Unlock()
			if n == lullWaiting-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes waiting, want %d", n, lullWaiting-1)
			}
		}
		released(t, waitDone(l), "the write that reaches the bound")
		released(t, all, "the writes before it")
		if !l.steady.Load() {
			t.Error("a load that filled the bound is not taken as steady")
		}
	})
}
