package proxy

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLogWriterKeepsOrder: lines written at once by many goroutines to a
// file all land, whole, each goroutine's in the order it wrote them.
func TestLogWriterKeepsOrder(t *testing.T) {
	r, w := pipe(t)
	lw := newLogWriter(w)
	const writers, each = 8, 2000
	got := make(chan []string)
	go func() {
		var lines []string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) == writers*each {
				break
			}
		}
		got <- lines
	}()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				fmt.Fprintf(lw, "%d %d %s\n", g, i, strings.Repeat("x", i%300))
			}
		})
	}
	wg.Wait()
	lw.Flush()
	var lines []string
	select {
	case lines = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("lines still missing 30 s after Flush")
	}
	next := make([]int, writers)
	for _, l := range lines {
		f := append(strings.Fields(l), "")
		g, _ := strconv.Atoi(f[0])
		i, err := strconv.Atoi(f[1])
		if err != nil || g < 0 || g >= writers || i != next[g] || len(f[2]) != i%300 {
			t.Fatalf("writer %d: line %q, want its line %d whole", g, l, next[g])
		}
		next[g]++
	}
}

// TestLogWriterDoesNotWaitForTheWrite: while the file takes no more (a
// pipe nobody reads, as a stalled journald), lines are taken without
// waiting until logBacklog bytes wait; then their writers are held, and
// go on, losing nothing, once the file is read again.
func TestLogWriterDoesNotWaitForTheWrite(t *testing.T) {
	r, w := pipe(t)
	lw := newLogWriter(w)
	line := strings.Repeat("l", 99) + "\n"
	var taken atomic.Int64
	stop := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for {
			select {
			case <-stop:
				return
			default:
			}
			lw.Write([]byte(line))
			taken.Add(int64(len(line)))
		}
	}()
	// The pipe holds 64 KiB (Linux's default); beyond it and the backlog
	// the writer is held.
	held := int64(0)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := taken.Load(); n == held && n >= logBacklog {
			break
		} else {
			held = n
		}
	}
	if held < logBacklog || held > logBacklog+(1<<20)+int64(len(line)) {
		t.Fatalf("%d bytes taken while the file took none, want about %d", held, logBacklog)
	}
	close(stop)
	read := make(chan int64)
	go func() {
		var n int64
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if sc.Text() != line[:len(line)-1] {
				t.Errorf("line %q", sc.Text())
			}
			n += int64(len(sc.Bytes()) + 1)
		}
		read <- n
	}()
	<-writing
	lw.Flush()
	w.Close()
	if n := <-read; n != taken.Load() {
		t.Fatalf("%d bytes read, %d taken", n, taken.Load())
	}
}

// TestLogLinesWaitForAWarning: info lines wait (here for an hour) to be
// written together; a warning is written at once with the lines before
// it, through the LogHandler and through a logger derived from it; Flush
// writes what waits.
func TestLogLinesWaitForAWarning(t *testing.T) {
	r, w := pipe(t)
	h := NewLogHandler(w, nil)
	h.w.delay = time.Hour
	r.SetReadDeadline(time.Now().Add(30 * time.Second)) // a line held fails the test, not hangs it
	lines := bufio.NewScanner(r)
	next := func(want string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("no line: %v", lines.Err())
		}
		if !strings.Contains(lines.Text(), want) {
			t.Fatalf("line %s, want %q", lines.Text(), want)
		}
	}
	log := slog.New(h)
	log.Info("first")
	s := &Server{log: log}
	s.logRequest(slog.LevelInfo, &accessRecord{id: "a", methodName: "GET", path: "/v2/", status: 200}, 0, time.Millisecond, nil)
	log.Warn("warned")
	next(`"msg":"first"`)
	next(`"request_id":"a"`)
	next(`"msg":"warned"`)
	derived := log.With("part", "x")
	derived.Info("second")
	derived.Error("failed")
	next(`"msg":"second"`)
	next(`"msg":"failed","part":"x"`)
	s.logRequest(slog.LevelError, &accessRecord{id: "b", methodName: "GET", path: "/v2/", status: 500}, 0, time.Millisecond, nil)
	next(`"request_id":"b"`)
	log.Info("last")
	h.Flush()
	next(`"msg":"last"`)
}

// TestLogLineWrittenUnasked: a line alone is written after logDelay,
// without a Flush.
func TestLogLineWrittenUnasked(t *testing.T) {
	r, w := pipe(t)
	lw := newLogWriter(w)
	fmt.Fprintln(lw, "alone")
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || got != "alone\n" {
		t.Fatalf("read %q: %v", got, err)
	}
}

// pipe is a pipe closed when t ends: a file as stdout is, that a test can
// stop reading.
func pipe(t *testing.T) (r, w *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
