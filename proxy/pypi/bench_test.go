package pypi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"nora/proxy/proxytest"
	"nora/proxy/pypi/pypitest"
)

// BenchmarkPageWarm measures a cached project page (fresh within the TTL)
// as pip asks for it, from 64 connections at once.
func BenchmarkPageWarm(b *testing.B) {
	up := demoUpstream(b, pypitest.Options{})
	n := startNora(b, pypiConfig(up))
	url := n.URL + "/simple/demo-pkg/"
	proxytest.LatencyBench(b, url, 64, "Accept", acceptPip)
	if got := up.PageGets("demo-pkg"); got != 1 {
		b.Fatalf("upstream page fetched %d times", got)
	}
}

// BenchmarkFileWarm compares a cached wheel served by nora with net/http's
// http.ServeContent (sendfile) of the same file on disk.
func BenchmarkFileWarm(b *testing.B) {
	const size = 8 << 20
	data := randomBytes(size, 9)
	up := pypitest.New(b, pypitest.Options{})
	up.Add("big", pypitest.File{Name: "big-1.0-py3-none-any.whl", Data: data})
	n := startNora(b, pypiConfig(up))
	url := n.URL + "/simple/big/big-1.0-py3-none-any.whl"
	c := proxytest.BenchClient(4)
	if _, err := proxytest.Get(c, url); err != nil {
		b.Fatal(err)
	}
	n.WaitLater() // the fill's commit, behind its reply
	sum := sha256.Sum256(data)
	hx := hex.EncodeToString(sum[:])
	path := filepath.Join(n.DataDir, "objects", "blobs", "sha256", hx[:2], hx)
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("cached object not where expected: %v", err)
	}

	baseline := proxytest.SendfileBaseline(b, path)

	for _, bc := range []struct{ name, url string }{{"nora", url}, {"sendfile-baseline", baseline}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if n, err := proxytest.Get(c, bc.url); err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
	if got := up.Gets("big-1.0-py3-none-any.whl"); got != 1 {
		b.Fatalf("upstream fetched the wheel %d times", got)
	}
}

// BenchmarkColdFile16 starts 16 concurrent GETs of one wheel nobody asked
// for before (page cached): nora must fetch it upstream once.
func BenchmarkColdFile16(b *testing.B) {
	const size = 1 << 20
	up := pypitest.New(b, pypitest.Options{})
	names := make([]string, b.N)
	for i := range names {
		names[i] = fmt.Sprintf("cold-1.%d-py3-none-any.whl", i)
		up.Add("cold", pypitest.File{Name: names[i], Data: randomBytes(size, uint64(i))})
	}
	n := startNora(b, pypiConfig(up))
	c := proxytest.BenchClient(16)
	if _, err := proxytest.Get(c, n.URL+"/simple/cold/"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				if got, err := proxytest.Get(c, n.URL+"/simple/cold/"+names[i]); err != nil || got != size {
					errs <- fmt.Errorf("%d bytes, %v", got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	total := 0
	for _, name := range names {
		total += up.Gets(name)
	}
	b.ReportMetric(float64(total)/float64(b.N), "upstream-requests/op")
	if total != b.N {
		b.Fatalf("%d upstream requests for %d cold files", total, b.N)
	}
}
