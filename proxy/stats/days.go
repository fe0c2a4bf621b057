package stats

import (
	"strings"
	"time"
)

// Counts are one format's traffic in a period. A hit is an answer from
// the cache (fresh, stale, or joined to a fill under way); a miss was
// fetched from an upstream while it was served. Hosted content is neither.
type Counts struct {
	HitRequests  int64 `json:"hit_requests"`
	HitBytes     int64 `json:"hit_bytes"`
	MissRequests int64 `json:"miss_requests"`
	MissBytes    int64 `json:"miss_bytes"`
}

func (c *Counts) add(o Counts) {
	c.HitRequests += o.HitRequests
	c.HitBytes += o.HitBytes
	c.MissRequests += o.MissRequests
	c.MissBytes += o.MissBytes
}

// RequestRatio is hits/(hits+misses) by requests; ok is false with none.
func (c Counts) RequestRatio() (r float64, ok bool) {
	return ratio(c.HitRequests, c.MissRequests)
}

// ByteRatio is hits/(hits+misses) by bytes; ok is false with none.
func (c Counts) ByteRatio() (r float64, ok bool) { return ratio(c.HitBytes, c.MissBytes) }

// SavedBytes are the WAN bytes the cache saved: those it served itself.
func (c Counts) SavedBytes() int64 { return c.HitBytes }

// FetchedBytes are the bytes fetched from upstreams.
func (c Counts) FetchedBytes() int64 { return c.MissBytes }

func ratio(hit, miss int64) (float64, bool) {
	if hit+miss <= 0 {
		return 0, false
	}
	return float64(hit) / float64(hit+miss), true
}

// Day is one day's counts by format.
type Day map[string]Counts

// Period is the counts of a span of days: by format and in total.
type Period struct {
	ByFormat map[string]Counts
	Total    Counts
}

// keepDays is how many days the file keeps: this month and the last.
const keepDays = 62

func dayKey(t time.Time) string { return t.Format(time.DateOnly) }

// flush moves the pending counts into today's; the caller holds s.mu.
func (s *Stats) flushLocked(now time.Time) {
	key := dayKey(now)
	d := s.days[key]
	if d == nil {
		d = Day{}
		s.days[key] = d
		s.pruneLocked(now)
	}
	for i := range s.pending {
		p := &s.pending[i]
		c := Counts{HitRequests: p.hitRequests.Swap(0), HitBytes: p.hitBytes.Swap(0),
			MissRequests: p.missRequests.Swap(0), MissBytes: p.missBytes.Swap(0)}
		if c == (Counts{}) {
			continue
		}
		old := d[Formats[i]]
		old.add(c)
		d[Formats[i]] = old
	}
}

// pruneLocked drops the days older than keepDays.
func (s *Stats) pruneLocked(now time.Time) {
	oldest := dayKey(now.AddDate(0, 0, -keepDays))
	for k := range s.days {
		if k < oldest {
			delete(s.days, k)
		}
	}
}

// Today and Month are the counts of the current day and calendar month,
// pending counts included.
func (s *Stats) Today() Period { return s.period(dayKey(s.now())) }

// Month: see Today.
func (s *Stats) Month() Period { return s.period(s.now().Format("2006-01")) }

// period sums the days whose key starts with prefix.
func (s *Stats) period(prefix string) Period {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked(s.now())
	p := Period{ByFormat: map[string]Counts{}}
	for k, d := range s.days {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		for f, c := range d {
			sum := p.ByFormat[f]
			sum.add(c)
			p.ByFormat[f] = sum
			p.Total.add(c)
		}
	}
	return p
}
