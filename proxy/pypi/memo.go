package pypi

import "sync"

// memo is a small bounded memory cache of two generations: entries live in
// the current map; when it holds more than max bytes it becomes the old one
// and the previous old one is dropped. A hit in the old generation moves
// the entry forward. No goroutines, no per-entry bookkeeping: what is used
// stays, what is not falls out within two turns.
type memo[V any] struct {
	mu       sync.Mutex
	max      int64
	cur, old map[string]memoEntry[V]
	curBytes int64
}

type memoEntry[V any] struct {
	v    V
	cost int64
}

func newMemo[V any](maxBytes int64) *memo[V] {
	return &memo[V]{max: maxBytes, cur: map[string]memoEntry[V]{}}
}

func (m *memo[V]) get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.cur[key]; ok {
		return e.v, true
	}
	if e, ok := m.old[key]; ok {
		delete(m.old, key)
		m.putLocked(key, e)
		return e.v, true
	}
	var zero V
	return zero, false
}

// put stores v, which costs about cost bytes; values larger than half the
// budget are not kept.
func (m *memo[V]) put(key string, v V, cost int64) {
	if cost > m.max/2 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cur[key]; ok {
		return
	}
	m.putLocked(key, memoEntry[V]{v: v, cost: cost})
}

func (m *memo[V]) putLocked(key string, e memoEntry[V]) {
	if m.curBytes+e.cost > m.max/2 {
		m.old, m.cur, m.curBytes = m.cur, map[string]memoEntry[V]{}, 0
	}
	m.cur[key] = e
	m.curBytes += e.cost
}
