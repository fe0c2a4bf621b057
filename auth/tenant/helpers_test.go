package tenant

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a clock tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// object is one holding of a memSource.
type object struct {
	key  string
	size int64
}

// memSource is a hosted format in memory: names and the objects they
// hold.
type memSource struct {
	mu    sync.Mutex
	names map[string][]object
	calls int   // Holdings calls
	err   error // what Holdings fails with
	// gate, when not nil, holds Holdings until closed; entered gets a
	// value as each call starts.
	gate    chan struct{}
	entered chan struct{}
}

func newMemSource() *memSource { return &memSource{names: map[string][]object{}} }

func (m *memSource) put(name, key string, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[name] = append(m.names[name], object{key, size})
}

func (m *memSource) Holdings(ctx context.Context, keep func(string) bool, fn func(name, key string, size int64) error) error {
	m.mu.Lock()
	m.calls++
	gate, entered, err := m.gate, m.entered, m.err
	names := map[string][]object{}
	for n, objs := range m.names {
		names[n] = slices.Clone(objs)
	}
	m.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if !keep(n) {
			continue
		}
		for _, o := range names[n] {
			if err := fn(n, o.key, o.size); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *memSource) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

var errStore = errors.New("store unreachable")

// mustNew is New that fails t on an error.
func mustNew(t testing.TB, o Options) *Set {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
