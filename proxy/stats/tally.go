package stats

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
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

type shard struct {
	mu    sync.Mutex
	max   int
	names map[string]*Pulled
}

func newTally(max int) *tally {
	t := &tally{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i] = shard{max: max / shards, names: map[string]*Pulled{}}
	}
	return t
}

// add counts a pull of name: bytes sent, at time at.
func (t *tally) add(name string, bytes int64, at time.Time) {
	sh := &t.shards[maphash.String(t.seed, name)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := sh.names[name]
	if p == nil {
		if len(sh.names) >= sh.max {
			sh.dropLeast()
		}
		// The name may point into the request's buffers: keep a copy.
		p = &Pulled{Name: strings.Clone(name)}
		sh.names[p.Name] = p
	}
	p.Pulls++
	p.Bytes += bytes
	if at.After(p.Last) {
		p.Last = at
	}
}

// dropLeast removes the least pulled name (the oldest of equals); rare:
// only a new name in a full shard.
func (sh *shard) dropLeast() {
	var least *Pulled
	for _, p := range sh.names {
		if least == nil || p.Pulls < least.Pulls || (p.Pulls == least.Pulls && p.Last.Before(least.Last)) {
			least = p
		}
	}
	if least != nil {
		delete(sh.names, least.Name)
	}
}

// top is the n most pulled names, most first (by name among equals).
func (t *tally) top(n int) []Pulled {
	var all []Pulled
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, p := range sh.names {
			all = append(all, *p)
		}
		sh.mu.Unlock()
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
		sh.mu.Lock()
		if len(sh.names) < sh.max {
			sh.names[p.Name] = &p
		}
		sh.mu.Unlock()
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
