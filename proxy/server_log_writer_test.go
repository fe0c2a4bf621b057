package proxy

import (
	"bufio"
	"fmt"
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
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
