package stats

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxNames bounds the names a format's tally counts; past it, the least
// pulled name makes room for a new one.
const MaxNames = 10000

// TopN is how many of the most pulled names Top reports and the file keeps.
const TopN = 20

// shards stripe the tally's lock: concurrent pulls of different names
// rarely wait for each other.
const shards = 16

// Pulled is one name's pulls.
type Pulled struct {
	Name  string    `json:"name"`
	Pulls int64     `json:"pulls"`
	Bytes int64     `json:"bytes"`
	Last  time.Time `json:"last"`
}

type tally struct {
	seed   maphash.Seed
	shards [shards]shard
}

// shard holds some names. A pull of a known name reads the map without
// a lock and adds to atomics: the popular names are pulled the most,
// and their pulls must not queue behind one lock. The lock serialises
// adding and dropping names.
type shard struct {
	mu    sync.Mutex
	max   int
	n     int      // names in the map; guarded by mu
	names sync.Map // string -> *entry
}

type entry struct {
	name  string
	pulls atomic.Int64
	bytes atomic.Int64
	last  atomic.Int64 // unix nanoseconds
}

func (e *entry) pulled() Pulled {
	p := Pulled{Name: e.name, Pulls: e.pulls.Load(), Bytes: e.bytes.Load()}
	if l := e.last.Load(); l != 0 {
		p.Last = time.Unix(0, l)
	}
	return p
}

func newTally(max int) *tally {
	t := &tally{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].max = max / shards
	}
	return t
}

// add counts a pull of name: bytes sent, at time at.
func (t *tally) add(name string, bytes int64, at time.Time) {
	sh := &t.shards[maphash.String(t.seed, name)%shards]
	v, ok := sh.names.Load(name)
	if !ok {
		v = sh.insert(name)
	}
	e := v.(*entry)
	e.pulls.Add(1)
	e.bytes.Add(bytes)
	if ns := at.UnixNano(); ns > e.last.Load() {
		e.last.Store(ns) // a race between two pulls may keep the earlier: close enough
	}
}

// insert adds name, first dropping the least pulled name of a full shard.
func (sh *shard) insert(name string) any {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.names.Load(name); ok {
		return v
	}
	if sh.n >= sh.max {
		sh.dropLeast()
	}
	// The name may point into the request's buffers: keep a copy.
	e := &entry{name: strings.Clone(name)}
	sh.names.Store(e.name, e)
	sh.n++
	return e
}

// dropLeast removes the least pulled name (the oldest of equals); rare:
// only a new name in a full shard. The caller holds sh.mu.
func (sh *shard) dropLeast() {
	var least *entry
	var lp, ll int64
	sh.names.Range(func(_, v any) bool {
		e := v.(*entry)
		p, l := e.pulls.Load(), e.last.Load()
		if least == nil || p < lp || (p == lp && l < ll) {
			least, lp, ll = e, p, l
		}
		return true
	})
	if least != nil {
		sh.names.Delete(least.name)
		sh.n--
	}
}

// top is the n most pulled names, most first (by name among equals).
func (t *tally) top(n int) []Pulled {
	var all []Pulled
	for i := range t.shards {
		t.shards[i].names.Range(func(_, v any) bool {
			all = append(all, v.(*entry).pulled())
			return true
		})
	}
	slices.SortFunc(all, func(a, b Pulled) int {
		if a.Pulls != b.Pulls {
			if a.Pulls > b.Pulls {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return all[:min(n, len(all))]
}

// restore puts back what the file kept.
func (t *tally) restore(ps []Pulled) {
	for _, p := range ps {
		sh := &t.shards[maphash.String(t.seed, p.Name)%shards]
		if sh.n >= sh.max { // read without the lock: restore runs before any pull
			continue
		}
		e := sh.insert(p.Name).(*entry)
		e.pulls.Store(p.Pulls)
		e.bytes.Store(p.Bytes)
		e.last.Store(p.Last.UnixNano())
	}
}

// Top is the TopN most pulled names of format (one of Formats).
func (s *Stats) Top(format string) []Pulled {
	i := formatIndex(format)
	if i < 0 {
		return nil
	}
	return s.top[i].top(TopN)
}
