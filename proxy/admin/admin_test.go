package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeJob records its calls and, if gate is set, runs until gate is closed
// or its context ends.
type fakeJob struct {
	mu      sync.Mutex
	calls   []bool // dryRun of each call
	started chan struct{}
	gate    chan struct{}
	result  any
	err     error
	order   *orderLog
	name    string
}

// orderLog records which jobs ran, in order, across jobs.
type orderLog struct {
	mu    sync.Mutex
	names []string
}

func (o *orderLog) add(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.names = append(o.names, name)
}

func (o *orderLog) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.names, ",")
}

func newFakeJob(name string, blocking bool) *fakeJob {
	j := &fakeJob{name: name, started: make(chan struct{}, 10), result: map[string]any{"removed": []any{}}}
	if blocking {
		j.gate = make(chan struct{})
	}
	return j
}

func (j *fakeJob) run(ctx context.Context, dryRun bool, progress func(done, total int64)) (any, error) {
	j.mu.Lock()
	j.calls = append(j.calls, dryRun)
	j.mu.Unlock()
	if j.order != nil {
		j.order.add(j.name)
	}
	progress(3, 10)
	j.started <- struct{}{}
	if j.gate != nil {
		select {
		case <-j.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return j.result, j.err
}

func (j *fakeJob) dryRuns() []bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]bool(nil), j.calls...)
}

// shortSocket is a socket path in a directory of its own under the
// system's temp directory: t.TempDir's paths can pass sun_path's length.
func shortSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nora-admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "admin.sock")
}

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Socket == "" {
		o.Socket = filepath.Join(t.TempDir(), "admin.sock")
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return s
}

// call sends a request over the socket and decodes the JSON answer.
func call(t *testing.T, s *Server, method, path string) (int, map[string]any) {
	t.Helper()
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.Socket())
	}}}
	req, _ := http.NewRequest(method, "http://nora"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

// waitDone polls the job's state until it is no longer running.
func waitDone(t *testing.T, c *Client, name string) JobState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Job(context.Background(), name)
		if err == nil && st.State != Running {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still running or unknown: %+v %v", name, st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJobs(t *testing.T) {
	gc, retention := newFakeJob("gc", true), newFakeJob("retention", false)
	gc.result = map[string]any{"removed": []any{map[string]any{"key": "k", "size": 5}}}
	s := startServer(t, Options{Jobs: map[string]Job{"gc": gc.run, "retention": retention.run}})
	c := NewClient(s.Socket())

	// nothing ran yet
	code, m := call(t, s, "GET", "/api/v1/gc")
	if code != http.StatusNotFound || m["error"] == "" {
		t.Errorf("GET before any run: %d %v", code, m)
	}

	code, m = call(t, s, "POST", "/api/v1/gc?dry_run=true")
	if code != http.StatusAccepted || m["name"] != "gc" || m["state"] != Running || m["dry_run"] != true || m["started"] == nil {
		t.Errorf("POST: %d %v", code, m)
	}
	<-gc.started
	st, err := c.Job(context.Background(), "gc")
	if err != nil || st.State != Running || st.Progress != (Progress{3, 10}) || st.Finished != nil {
		t.Errorf("while running: %+v %v", st, err)
	}

	// gc and retention exclude each other
	for _, path := range []string{"/api/v1/gc", "/api/v1/retention?dry_run=false"} {
		code, m = call(t, s, "POST", path)
		if d, _ := m["detail"].(map[string]any); code != http.StatusConflict || m["error"] != "gc is running" || d["name"] != "gc" {
			t.Errorf("POST %s while gc runs: %d %v", path, code, m)
		}
	}
	_, err = c.Start(context.Background(), "retention", false)
	if e := (*Error)(nil); !errors.As(err, &e) || e.Status != http.StatusConflict {
		t.Errorf("client Start while gc runs: %v", err)
	}

	close(gc.gate)
	st = waitDone(t, c, "gc")
	if st.State != Done || !st.DryRun || st.Finished == nil || string(st.Result.(json.RawMessage)) != `{"removed":[{"key":"k","size":5}]}` {
		t.Errorf("finished: %+v %s", st, st.Result)
	}

	if _, err := c.Start(context.Background(), "retention", false); err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, c, "retention"); st.State != Done || st.DryRun {
		t.Errorf("retention: %+v", st)
	}
	if got := gc.dryRuns(); len(got) != 1 || !got[0] {
		t.Errorf("gc calls (dry_run): %v", got)
	}
	if got := retention.dryRuns(); len(got) != 1 || got[0] {
		t.Errorf("retention calls (dry_run): %v", got)
	}
}

func TestErrors(t *testing.T) {
	failing := newFakeJob("reindex", false)
	failing.err = errors.New("index is on fire")
	statsErr := error(nil)
	s := startServer(t, Options{
		Jobs: map[string]Job{"reindex": failing.run},
		Stats: func(context.Context) (any, error) {
			return map[string]int64{"objects": 7}, statsErr
		},
	})
	f := func(method, path string, wantCode int, wantErr string) {
		t.Helper()
		code, m := call(t, s, method, path)
		if code != wantCode || m["error"] != wantErr {
			t.Errorf("%s %s: %d %v; want %d with error %q", method, path, code, m, wantCode, wantErr)
		}
	}
	f("GET", "/api/v1/nope", 404, "no such resource")
	f("GET", "/elsewhere", 404, "no such resource")
	f("GET", "/api/v1/gc", 404, "no such resource") // no such job configured
	f("DELETE", "/api/v1/reindex", 405, "DELETE is not allowed here")
	f("POST", "/api/v1/storage/stats", 405, "POST is not allowed here")
	f("POST", "/api/v1/reindex?dry_run=maybe", 400, "dry_run: want true or false")
	f("GET", "/api/v1/reindex", 404, "reindex has not run since nora started")

	code, m := call(t, s, "GET", "/api/v1/storage/stats")
	if code != 200 || m["objects"] != 7.0 {
		t.Errorf("stats: %d %v", code, m)
	}
	statsErr = errors.New("disk gone")
	code, m = call(t, s, "GET", "/api/v1/storage/stats")
	if code != 500 || m["error"] != "cannot gather storage stats" || m["detail"] != "disk gone" {
		t.Errorf("stats error: %d %v", code, m)
	}

	c := NewClient(s.Socket())
	if _, err := c.Start(context.Background(), "reindex", false); err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, c, "reindex"); st.State != Failed || st.Error != "index is on fire" {
		t.Errorf("failed job: %+v", st)
	}
	if _, err := c.Job(context.Background(), "gc"); err == nil || err.Error() != "no such resource" {
		t.Errorf("client error: %v", err)
	}
}

// Close cancels a running job and waits for it.
func TestCloseCancelsJobs(t *testing.T) {
	gc := newFakeJob("gc", true)
	s, err := New(Options{Socket: filepath.Join(t.TempDir(), "admin.sock"), Jobs: map[string]Job{"gc": gc.run}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	if _, err := NewClient(s.Socket()).Start(context.Background(), "gc", false); err != nil {
		t.Fatal(err)
	}
	<-gc.started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.runner.state("gc"); st.State != Failed || st.Error != context.Canceled.Error() {
		t.Errorf("after Close: %+v", st)
	}
	if _, err := os.Stat(s.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := s.runner.start("gc", false); !errors.Is(err, errClosed) {
		t.Errorf("start after Close: %v", err)
	}
}

func TestSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "admin.sock")

	// the directory is created; the socket is the owner's and group's
	s := startServer(t, Options{Socket: path})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("socket directory mode: %v %v", fi.Mode(), err)
	}

	// a live socket is refused, and left alone
	if _, err := New(Options{Socket: path}); err == nil || err.Error() != "another nora serves on "+path {
		t.Errorf("second server: %v", err)
	}
	if code, _ := call(t, s, "GET", "/api/v1/nope"); code != 404 {
		t.Errorf("first server after the refused second: %d", code)
	}

	// a stale socket, left by a killed process, is replaced
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, Options{Socket: stale})
	if code, _ := call(t, s2, "GET", "/api/v1/nope"); code != 404 {
		t.Errorf("server on a stale socket: %d", code)
	}

	// any other file is never removed
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := New(Options{Socket: file}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file in the way: %v", err)
	}

	long := filepath.Join(dir, strings.Repeat("x", 110), "admin.sock")
	if _, err := New(Options{Socket: long}); err == nil || !strings.Contains(err.Error(), "longer than a unix socket's") {
		t.Errorf("long path: %v", err)
	}
}

func TestSocketPath(t *testing.T) {
	if got := SocketPath("", "/var/lib/nora"); got != "/var/lib/nora/admin.sock" {
		t.Error(got)
	}
	if got := SocketPath("/run/nora/admin.sock", "/var/lib/nora"); got != "/run/nora/admin.sock" {
		t.Error(got)
	}
}
