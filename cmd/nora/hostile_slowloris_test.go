package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy/npm/npmtest"
)

// slowloris holds connections to addr from 127.0.0.1, each sending an
// endless request header a byte at a time; a connection that ends is
// redialled, so the pressure stays on until stop.
type slowloris struct {
	addr     string
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	// refused: answered before its third byte (over a cap); cut:
	// answered or closed later (read_timeout); held: open now.
	refused, cut, held atomic.Int64
	statuses           sync.Map // status lines seen -> true
}

func startSlowloris(addr string, conns int) *slowloris {
	s := &slowloris{addr: addr, stop: make(chan struct{})}
	for range conns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for !s.stopped() {
				if s.one() {
					time.Sleep(100 * time.Millisecond) // spare the shared CPU, not nora
				}
			}
		}()
	}
	return s
}

func (s *slowloris) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *slowloris) close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// one holds one connection until nora answers or closes it, or stop; it
// reports whether the connection was refused.
func (s *slowloris) one() (refused bool) {
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		time.Sleep(10 * time.Millisecond) // the backlog is full: the attacker's problem
		return
	}
	defer c.Close()
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- line
	}()
	head := "GET /health HTTP/1.1\r\nHost: nora.test\r\nX-Slow: "
	sent := 0
	// An answer before the third byte is a refusal at accept (a cap);
	// a later one, or a close, is read_timeout cutting a slow header.
	end := func(line string) bool {
		s.statuses.Store(strings.TrimSpace(line), true)
		if sent < 3 {
			s.refused.Add(1)
			return true
		}
		s.held.Add(-1)
		s.cut.Add(1)
		return false
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return false
		case line := <-answered:
			return end(line)
		case <-tick.C:
			b := byte('a')
			if sent < len(head) {
				b = head[sent]
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return end(<-answered) // closed under us: the answer, if any, came first
			}
			if sent++; sent == 3 {
				s.held.Add(1)
			}
		}
	}
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fromOtherAddr is a client whose connections come from 127.0.0.2: another
// client address than the attacker's.
func fromOtherAddr() *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
}

// Slowloris: 300 connections from one address send request headers a
// byte at a time against max_conns = 64. Those over the caps are refused
// at once, the slow senders are cut by read_timeout, nora's descriptors
// stay within max_conns, and a client from another address is served on
// its first try: /health, /ready and a warm npm install (package document
// and tarball).
func TestSlowloris(t *testing.T) {
	const maxConns = 64
	up := npmtest.NewRegistry(t)
	tarball := up.Publish(t, "left-pad", "1.0.0", 1024)
	config := fmt.Sprintf("[server]\nlisten = %q\nmax_conns = %d\nmax_conns_per_ip = %d\nread_timeout = \"2s\"\n"+
		"[storage]\npath = %q\n[npm]\nupstream = %q\n",
		freeAddr(t), maxConns, maxConns/2, t.TempDir(), up.URL)
	p := startProcess(t, config)
	pid := p.cmd.Process.Pid
	// A pull is the package document and the tarball.
	pull := func(c *http.Client) (int, error) {
		for _, path := range []string{"/npm/left-pad", "/npm" + tarball} {
			resp, err := c.Get("http://" + p.addr + path)
			if err != nil {
				return 0, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return resp.StatusCode, fmt.Errorf("%s: %s", path, b)
			}
		}
		return 200, nil
	}
	if code, err := pull(http.DefaultClient); err != nil || code != 200 {
		t.Fatalf("cold pull: %d %v", code, err)
	}
	http.DefaultClient.CloseIdleConnections()
	idle := openFDs(t, pid)

	s := startSlowloris(p.addr, 300)
	defer s.close()
	waitUntil(t, "the attacker to hit a cap", func() bool { return s.refused.Load() > 0 })
	peak := 0
	for range 10 {
		peak = max(peak, openFDs(t, pid))
		time.Sleep(20 * time.Millisecond)
	}
	other := fromOtherAddr()
	for _, path := range []string{"/health", "/ready"} {
		resp, err := other.Get("http://" + p.addr + path)
		if err != nil {
			t.Fatalf("%s from another address under slowloris: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s from another address under slowloris: %d", path, resp.StatusCode)
		}
	}
	if code, err := pull(other); err != nil || code != 200 {
		t.Fatalf("warm pull from another address under slowloris: %d %v", code, err)
	}
	waitUntil(t, "read_timeout to cut a slow header", func() bool { return s.cut.Load() > 0 })
	for range 10 {
		peak = max(peak, openFDs(t, pid))
		time.Sleep(20 * time.Millisecond)
	}
	var seen []string
	s.statuses.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	t.Logf("fds idle %d, peak %d; refused %d, cut %d, held now %d; answers %q",
		idle, peak, s.refused.Load(), s.cut.Load(), s.held.Load(), seen)
	// A refused connection lives for an accept and a write: a few slack.
	if peak > idle+maxConns+8 {
		t.Fatalf("nora held %d descriptors under slowloris (idle %d, max_conns %d)", peak, idle, maxConns)
	}
	for _, want := range []string{"HTTP/1.1 429 Too Many Requests", "HTTP/1.1 408 Request Timeout"} {
		if _, ok := s.statuses.Load(want); !ok {
			t.Errorf("no %q among the answers to the attacker: %q", want, seen)
		}
	}
	s.close()
	waitUntil(t, "descriptors back to idle", func() bool { return openFDs(t, pid) <= idle+2 })
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnsPerIPKey(t *testing.T) {
	cfg, err := parseConfig("nora.toml", []byte("[server]\nmax_conns_per_ip = 16\n"), nil)
	if err != nil || cfg.Server.MaxConnsPerIP != 16 {
		t.Fatalf("max_conns_per_ip = 16: %v %+v", err, cfg.Server)
	}
	_, err = parseConfig("nora.toml", []byte("[server]\nmax_conns_per_ip = -1\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "nora.toml:2: server.max_conns_per_ip: must not be negative") {
		t.Fatalf("max_conns_per_ip = -1: %v", err)
	}
}
