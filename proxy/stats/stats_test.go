package stats

import (
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"nora/proxy/httpx"
)

// clock is a settable clock for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func open(t *testing.T, path string, c *clock) *Stats {
	t.Helper()
	s, err := New(Options{Path: path, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(format, path, repo, cache string, status int, bytes int64) *httpx.Done {
	return &httpx.Done{Method: "GET", Format: format, Path: path, Repository: repo, Cache: cache, Status: status, Bytes: bytes}
}

func TestCountsByDayAndMonthSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.Local)}
	s := open(t, path, c)
	s.Observe(get("docker", "/v2/a/blobs/sha256:1", "a", "miss", 200, 1000))
	s.Observe(get("docker", "/v2/a/blobs/sha256:1", "a", "hit", 200, 1000))
	c.set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.Local))
	if err := s.Save(); err != nil { // the day's pending counts go to Dec 1
		t.Fatal(err)
	}
	s.Observe(get("npm", "/npm/x/-/x-1.tgz", "x", "hit", 200, 300))
	s.Observe(get("npm", "/npm/x/-/x-1.tgz", "x", "stale", 200, 100))
	s.Observe(get("npm", "/npm/y", "y", "hosted", 200, 5000))                                                    // neither
	s.Observe(get("npm", "/npm/z", "z", "miss", 404, 50))                                                        // refused: not counted
	s.Observe(get("ops", "/metrics", "", "", 200, 70000))                                                        // not a format
	s.Observe(&httpx.Done{Format: "pypi", Cache: "miss", Status: 200, Bytes: 9, Err: errors.New("broken pipe")}) // broke off
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.set(time.Date(2026, 12, 1, 18, 0, 0, 0, time.Local))
	s = open(t, path, c)
	today := s.Today()
	want := Counts{HitRequests: 3, HitBytes: 1400, MissRequests: 1, MissBytes: 1000}
	if today.Total != want {
		t.Errorf("today = %+v, want %+v (Nov 30 flushed on Dec 1)", today.Total, want)
	}
	if got := today.ByFormat["npm"]; got != (Counts{HitRequests: 2, HitBytes: 400}) {
		t.Errorf("npm today = %+v", got)
	}
	if r, ok := today.Total.RequestRatio(); !ok || r != 0.75 {
		t.Errorf("request ratio = %v %v, want 0.75", r, ok)
	}
	if r, ok := today.Total.ByteRatio(); !ok || r != 1400.0/2400 {
		t.Errorf("byte ratio = %v %v", r, ok)
	}
	if today.Total.SavedBytes() != 1400 || today.Total.FetchedBytes() != 1000 {
		t.Errorf("saved %d fetched %d", today.Total.SavedBytes(), today.Total.FetchedBytes())
	}
	c.set(time.Date(2027, 1, 1, 0, 0, 1, 0, time.Local))
	if m := s.Month(); m.Total != (Counts{}) {
		t.Errorf("January so far = %+v, want nothing", m.Total)
	}
	if _, ok := (Counts{}).RequestRatio(); ok {
		t.Error("a ratio of nothing is not defined")
	}
}

func TestTopCountsManifestPullsAndSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	c := &clock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.Local)}
	s := open(t, path, c)
	for range 3 {
		s.Observe(get("docker", "/v2/lib/app/manifests/1", "lib/app", "hit", 200, 10))
	}
	for range 10 { // blobs are not pulls of their own
		s.Observe(get("docker", "/v2/lib/db/blobs/sha256:1", "lib/db", "hit", 200, 10))
	}
	s.Observe(get("docker", "/v2/lib/db/manifests/1", "lib/db", "miss", 200, 10))
	s.Observe(get("npm", "/npm/left-pad", "left-pad", "hit", 200, 10))
	got := s.Top("docker")
	if len(got) != 2 || got[0].Name != "lib/app" || got[0].Pulls != 3 || got[1].Name != "lib/db" || got[1].Pulls != 1 {
		t.Fatalf("top docker = %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, c)
	if got := s.Top("npm"); len(got) != 1 || got[0].Name != "left-pad" || got[0].Pulls != 1 {
		t.Errorf("top npm after restart = %+v", got)
	}
}

func TestTallyDropsTheLeastPulled(t *testing.T) {
	tl := newTally(4 * shards) // four names a shard
	at := time.Now()
	for range 3 {
		tl.add("popular", 0, at)
	}
	for i := range 500 {
		tl.add("once-"+strconv.Itoa(i), 0, at.Add(time.Duration(i)))
	}
	total := 0
	for i := range tl.shards {
		tl.shards[i].names.Range(func(any, any) bool { total++; return true })
	}
	if total > 4*shards {
		t.Errorf("%d names kept, bound %d", total, 4*shards)
	}
	if top := tl.top(1); top[0].Name != "popular" || top[0].Pulls != 3 {
		t.Errorf("top = %+v: popular, pulled three times, must stay", top)
	}
}

func TestErrorsKeepTheLastFifty(t *testing.T) {
	c := &clock{t: time.Now()}
	s := open(t, "", c)
	s.Observe(get("docker", "/v2/ok", "ok", "hit", 200, 1))
	for i := range ErrorsKept + 5 {
		s.Observe(&httpx.Done{Method: "GET", Path: "/v2/x/blobs/" + string(rune('a'+i%26)), Format: "docker", Status: 502 + i%2})
	}
	s.Observe(&httpx.Done{Method: "GET", Path: "/npm/cut", Format: "npm", Status: 200, Err: errors.New("connection reset")})
	s.Observe(&httpx.Done{Status: 400, Err: errors.New("cannot read the request")}) // the client's doing
	errs := s.Errors()
	if len(errs) != ErrorsKept {
		t.Fatalf("%d errors kept, want %d", len(errs), ErrorsKept)
	}
	if errs[0].Path != "/npm/cut" || errs[0].Error != "connection reset" || errs[0].Status != 200 {
		t.Errorf("newest = %+v", errs[0])
	}
	for _, e := range errs {
		if e.Path == "/v2/ok" {
			t.Error("a 200 is no error")
		}
	}
}

// BenchmarkObserve is the cost Observe adds to each request: it must not
// allocate (a warm pull of a known name).
func BenchmarkObserve(b *testing.B) {
	s, _ := New(Options{})
	d := get("docker", "/v2/lib/app/manifests/1", "lib/app", "hit", 200, 10)
	s.Observe(d)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Observe(d)
		}
	})
}
