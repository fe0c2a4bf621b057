package tenant

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	clk := newClock()
	s := mustNew(t, Options{Now: clk.Now, Tenants: []Config{
		{Name: "team-a", Prefixes: []string{"a/**", "npm:@a/*"}, StorageQuota: 1000},
		{Name: "team-b", Prefixes: []string{"b/**"}},
	}})
	docker, npm := newMemSource(), newMemSource()
	s.AddSource("docker", docker)
	s.AddSource("npm", npm)
	docker.put("a/x", "k1", 10)
	docker.put("a/x", "k2", 20)
	docker.put("a/y", "k1", 10) // the same bytes in another name of a
	docker.put("a/y", "k3", 5)
	docker.put("b/z", "k1", 10)  // and in a name of b: counted there too
	docker.put("@a/ui", "k4", 7) // a docker name: not a's npm prefix
	npm.put("@a/ui", "k5", 100)
	npm.put("left-pad", "k6", 1)
	a, b, def := s.Lookup("team-a"), s.Lookup("team-b"), s.Lookup(Default)

	f := func(tn *Tenant, bytes, objects int64) {
		t.Helper()
		u, err := s.Usage(t.Context(), tn)
		if err != nil {
			t.Fatal(err)
		}
		want := Usage{Tenant: tn.Name(), Bytes: bytes, Objects: objects, Quota: tn.quota}
		if u != want {
			t.Errorf("Usage = %+v, want %+v", u, want)
		}
	}
	f(a, 135, 4)
	f(b, 10, 1)
	f(def, 8, 2)
	counts := docker.callCount()

	// A count holds until a change of the tenant's names.
	docker.put("a/x", "k7", 1000)
	f(a, 135, 4)
	s.Changed("docker", "b/z")
	f(a, 135, 4)
	f(b, 10, 1)
	s.Changed("docker", "a/new")
	f(a, 1135, 5)
	if got := docker.callCount() - counts; got != 2 {
		t.Errorf("%d counts, want 2 (b and a once each)", got)
	}

	// Recount makes every count again; so does a minute.
	docker.put("b/z", "k8", 3)
	npm.put("left-pad", "k9", 2)
	f(b, 10, 1)
	s.Recount()
	f(b, 13, 2)
	f(def, 10, 3)
	npm.put("left-pad", "k10", 4)
	clk.Add(59 * time.Second)
	f(def, 10, 3)
	clk.Add(time.Second)
	f(def, 14, 4)
}

func TestUsageFails(t *testing.T) {
	s := mustNew(t, Options{Tenants: []Config{{Name: "a", Prefixes: []string{"a/**"}}}})
	src := newMemSource()
	src.err = errStore
	s.AddSource("pypi", src)
	if _, err := s.Usage(t.Context(), s.Lookup("a")); !errors.Is(err, errStore) {
		t.Fatalf("Usage = %v, want the store's error", err)
	}
	// A failed count is not kept.
	src.err = nil
	src.put("a/b", "k", 3)
	if u, err := s.Usage(t.Context(), s.Lookup("a")); err != nil || u.Bytes != 3 {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
}

// TestUsageShared: callers asking for a tenant's usage while it is
// counted wait for that count instead of starting their own; one that
// gives up does not end it for the others.
func TestUsageShared(t *testing.T) {
	s := mustNew(t, Options{Tenants: []Config{{Name: "a", Prefixes: []string{"a/**"}}}})
	src := newMemSource()
	src.put("a/b", "k", 42)
	src.gate, src.entered = make(chan struct{}), make(chan struct{}, 16)
	s.AddSource("docker", src)
	a := s.Lookup("a")

	// The first caller gives up while the count runs.
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := s.Usage(ctx, a)
		first <- err
	}()
	<-src.entered
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("Usage = %v, want context.Canceled", err)
	}

	const n = 8
	var started, done sync.WaitGroup
	started.Add(n)
	results := make(chan int64, n)
	for range n {
		done.Go(func() {
			started.Done()
			u, err := s.Usage(t.Context(), a)
			if err != nil {
				t.Error(err)
			}
			results <- u.Bytes
		})
	}
	started.Wait()
	close(src.gate)
	done.Wait()
	close(results)
	for b := range results {
		if b != 42 {
			t.Errorf("Usage = %d bytes, want 42", b)
		}
	}
	if got := src.callCount(); got != 1 {
		t.Errorf("%d counts, want 1", got)
	}
}
