package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a process's resident set in KiB (VmRSS), and its anonymous
// part (the heap and stacks) and file-backed part (the binary's text, the
// index's mmap) as /proc/<pid>/status splits it.
type Memory struct{ RSS, Anon, File int64 }

func memory(pid int) (Memory, error) {
	var m Memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n
		case "RssAnon":
			m.Anon = n
		case "RssFile":
			m.File = n
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// openFDs counts the open file descriptors of process pid, those that
// are sockets, and of these the TCP connections nora opened to its
// upstreams: those whose local port is not port, the one it serves on.
func openFDs(pid, port int) (fds, sockets, upstream int, err error) {
	local := tcpPorts(pid)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	e, err := os.ReadDir(dir)
	for _, f := range e {
		l, err := os.Readlink(dir + "/" + f.Name())
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		sockets++
		if p, ok := local[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")]; ok && p != port {
			upstream++
		}
	}
	return len(e), sockets, upstream, err
}

// tcpPorts maps the inode of each TCP socket of pid's network namespace
// to its local port.
func tcpPorts(pid int) map[string]int {
	m := map[string]int{}
	for _, f := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				m[fs[9]] = int(p)
			}
		}
	}
	return m
}

// scrape reads nora's /metrics: each series ("name{labels}") and its value.
func (c *client) scrape(ctx context.Context) (map[string]float64, error) {
	b, err := c.get(ctx, "/metrics", "")
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		i := strings.LastIndexByte(l, ' ')
		if strings.HasPrefix(l, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", l, err)
		}
		m[l[:i]] = v
	}
	return m, nil
}

// sum adds the series of metric name whose labels contain every one of
// labels ("result=\"stale\""); ok is false if there is none.
func sum(m map[string]float64, name string, labels ...string) (total float64, ok bool) {
	for series, v := range m {
		n, l, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for _, want := range labels {
			match = match && strings.Contains(l, want)
		}
		if match {
			total, ok = total+v, true
		}
	}
	return total, ok
}

// metric reads one metric of nora's /metrics, its series summed.
func (c *client) metric(ctx context.Context, name string) (float64, error) {
	m, err := c.scrape(ctx)
	if err != nil {
		return 0, err
	}
	v, ok := sum(m, name)
	if !ok {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return v, nil
}

// Goroutines reads go_goroutines from nora's /metrics.
func (g *Generator) Goroutines(ctx context.Context) (int, error) {
	v, err := g.newClient(-3).metric(ctx, "go_goroutines")
	return int(v), err
}

// UpstreamBytes reads nora_upstream_bytes_total (since nora started).
func (g *Generator) UpstreamBytes(ctx context.Context) (int64, error) {
	v, err := g.newClient(-3).metric(ctx, "nora_upstream_bytes_total")
	return int64(v), err
}

// Peak is the largest resident set seen, and when; and the largest
// anonymous and file-backed parts, each at its own time.
type Peak struct {
	mu  sync.Mutex
	mem Memory
	at  time.Time
	// Timeline is a sample every record interval: growth or a plateau.
	timeline []Memory
}

// Timeline returns the samples taken every record interval.
func (p *Peak) Timeline() []Memory {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Memory(nil), p.timeline...)
}

// Get returns the peak and its time.
func (p *Peak) Get() (Memory, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mem, p.at
}

// RSSWatch samples the resident set of the process pid names (it may
// change: a restart) until ctx ends, and keeps the largest, and a sample
// every record interval.
func RSSWatch(ctx context.Context, pid func() int, every, record time.Duration) *Peak {
	var peak Peak
	next := time.Now()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := memory(pid()); err == nil {
				peak.mu.Lock()
				if m.RSS > peak.mem.RSS {
					peak.mem.RSS, peak.at = m.RSS, time.Now()
				}
				peak.mem.Anon, peak.mem.File = max(peak.mem.Anon, m.Anon), max(peak.mem.File, m.File)
				if now := time.Now(); !now.Before(next) {
					peak.timeline, next = append(peak.timeline, m), now.Add(record)
				}
				peak.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return &peak
}

// Sample is nora's process at one moment.
type Sample struct {
	FDs, Sockets int
	// Upstream counts the connections to upstreams among the sockets:
	// nora's pool keeps them open for reuse (at most 32 per host, 90 s
	// idle), whatever the clients do, so flatness is judged without them.
	Upstream   int
	Goroutines int
}

// Own is what flatness is judged on: descriptors and goroutines less
// the pooled upstream connections (a descriptor each, and the two
// goroutines, reader and writer, Go's HTTP/1 transport runs per
// connection).
func (s Sample) Own() (fds, goroutines int) {
	return s.FDs - s.Upstream, s.Goroutines - 2*s.Upstream
}

// The slack "flat" allows: descriptors and goroutines at the end may
// exceed the start by this much (a timer, a connection being closed).
const (
	FDSlack        = 16
	GoroutineSlack = 32
)

// Flat reports whether end is within the slack of start.
func Flat(start, end Sample) bool {
	f0, g0 := start.Own()
	f1, g1 := end.Own()
	return f1 <= f0+FDSlack && g1 <= g0+GoroutineSlack
}

// Settle drops the clients' idle connections and samples nora (pid 0:
// goroutines only). Against a base it polls, for up to 30 seconds, until
// the figures come back within the slack of base (connections closing,
// the server's idle workers ending, which takes up to 20 s), and returns
// the last sample either way; without one, until two samples in a row
// agree.
func Settle(ctx context.Context, g *Generator, pid int, base *Sample) Sample {
	var last Sample
	port := g.port()
	for deadline := time.Now().Add(30 * time.Second); ; {
		g.CloseIdle()
		var s Sample
		if pid > 0 {
			s.FDs, s.Sockets, s.Upstream, _ = openFDs(pid, port)
		}
		s.Goroutines, _ = g.Goroutines(ctx)
		g.CloseIdle() // the scrape's own connection
		settled := s == last
		if base != nil {
			settled = Flat(*base, s)
		}
		if settled || time.Now().After(deadline) {
			return s
		}
		last = s
		if sleep(ctx, 250*time.Millisecond) != nil {
			return s
		}
	}
}
