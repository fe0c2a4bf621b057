// Package stats keeps what the web UI's overview shows about the traffic:
// bytes served from the cache and fetched from upstreams per format and
// day, the most pulled names, and the last errors. It hears of every
// answered request (Observe, on the request path: atomics only there) and
// keeps the daily counts in a small JSON file, so that "this month"
// survives a restart.
package stats

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"nora/proxy/httpx"
)

// Formats are the package formats counted, in the order pages show them.
var Formats = []string{"docker", "npm", "pypi", "maven", "cargo"}

// formatIndex is f's place in Formats; -1: not a package format ("ops",
// "admin", "ui", ...), not counted.
func formatIndex(f string) int {
	switch f {
	case "docker":
		return 0
	case "npm":
		return 1
	case "pypi":
		return 2
	case "maven":
		return 3
	case "cargo":
		return 4
	}
	return -1
}

// counters are one format's counts since the last flush.
type counters struct {
	hitRequests, hitBytes   atomic.Int64
	missRequests, missBytes atomic.Int64
}

// Stats counts the traffic; New loads what an earlier run saved.
type Stats struct {
	path string
	tmp  string
	now  func() time.Time
	log  *slog.Logger

	pending [5]counters // since the last flush, by format
	top     [5]*tally   // most pulled names, by format
	errs    errorRing

	mu   sync.Mutex     // guards days and writes of the file
	days map[string]Day // "2006-01-02" in local time

	stop chan struct{}
	done chan struct{}
}

// Options configure New.
type Options struct {
	// Path is the JSON file the daily counts are kept in; "" keeps them
	// in memory only.
	Path string
	// TempDir, on Path's file system, holds the file while it is written
	// (a backup walking Path's directory never meets a half-written
	// file); "" is Path's directory.
	TempDir string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// FlushEvery is how often the counts are added up and written to the file.
const FlushEvery = time.Minute

// New returns Stats holding what opts.Path saved, if anything.
func New(opts Options) (*Stats, error) {
	s := &Stats{path: opts.Path, tmp: opts.TempDir, now: opts.Now, log: opts.Log, days: map[string]Day{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for i := range s.top {
		s.top[i] = newTally(MaxNames)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Observe counts one answered request. It runs on the request's
// goroutine: counters are atomics, the tally takes one of its striped
// locks, and only errors take the error ring's lock.
func (s *Stats) Observe(d *httpx.Done) {
	// A refused or unreadable request (4xx) is the client's doing; a
	// success cut off mid-body is a broken transfer.
	if d.Status >= 500 || (d.Err != nil && d.Status < 400) {
		s.errs.add(s.now(), d)
	}
	i := formatIndex(d.Format)
	if i < 0 || d.Status >= 400 || d.Err != nil {
		return
	}
	c := &s.pending[i]
	switch d.Cache {
	case "hit", "stale", "fill-wait":
		c.hitRequests.Add(1)
		c.hitBytes.Add(d.Bytes)
	case "miss":
		c.missRequests.Add(1)
		c.missBytes.Add(d.Bytes)
	}
	if d.Repository != "" && d.Method == "GET" && isPull(i, d.Path) {
		s.top[i].add(d.Repository, d.Bytes, d.Start)
	}
}

// isPull reports whether a GET of path is a pull of its name: for images,
// the manifest (a pull fetches one, and many blobs); for packages, any
// document or file of the package.
func isPull(format int, path string) bool {
	if format != 0 {
		return true
	}
	return strings.Contains(path, "/manifests/")
}

// Start writes the counts every FlushEvery until Close; work that outlives
// a request derives from the server's lifetime life.
func (s *Stats) Start(life context.Context) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := s.Save(); err != nil {
					s.log.Warn("cannot save the web UI's statistics", "err", err)
				}
			case <-s.stop:
				return
			case <-life.Done():
				return
			}
		}
	}()
}

// Close stops the writer Start began and writes the counts a last time.
func (s *Stats) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
	return s.Save()
}
